"""`wpec`: the command line. Thin: parse arguments, call a service, print.

Every command module registers itself on the top-level app or on a group of `groups.py`.
`main()` turns any exception that reaches it into one clear line and a non-zero exit code:
a user never sees a traceback (set WPEC_DEBUG=1 to get one).
"""

import os
import sys

import typer

from wpec_invoicing.cli.groups import GROUPS
from wpec_invoicing.errors import WpecError

app = typer.Typer(
    help="wpec_invoicing: the company's PEC mailbox for Italian e-invoicing.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

# Command modules: importing them registers their commands (on `app` or on a group).
from wpec_invoicing.cli import (  # noqa: E402
    audit,
    browse,
    events,
    invoice,
    mailbox,
    messages,
    outbox,
    pec,
    sandbox,
    serve,
    tokens,
    users,
)

for _name, _group in GROUPS.items():
    app.add_typer(_group, name=_name)

for _module in (invoice, pec, sandbox, mailbox, outbox, messages, tokens, audit, events, serve,
                browse, users):
    _module.register(app)


def main() -> None:
    """Console entry point."""
    try:
        app()
    except WpecError as exc:
        print(f"wpec: error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print("wpec: interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if os.environ.get("WPEC_DEBUG"):
            raise
        print(f"wpec: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(3)
