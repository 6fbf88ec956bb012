"""`wpec token create | list | revoke`: the API's bearer tokens.

The secret is printed once, on stdout, at creation; only its hash is stored. Calls `app/`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.groups import token_app
from wpec_invoicing.cli.options import ConfigOpt, JsonOpt

_dump = output.dump_json  # one JSON document on one line (browse, audit, events use it too)


def _ctx(config: str | None):  # -> app.context.AppContext
    from wpec_invoicing.app.context import AppContext

    return AppContext.load(config)


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option("--name", metavar="NAME",
                                      help="Who uses it (an installation, an ERP).")],
    role: Annotated[str, typer.Option("--role", metavar="ROLE",
                                      help="viewer, integrator, operator or admin.")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Create a token; its secret is shown this once (keep it: only a hash is stored)."""
    from wpec_invoicing.app.tokens import create_token

    with _ctx(config) as ctx:
        new = create_token(ctx, name, role, actor=_actor())
    if json_out:
        _dump({"name": new.token.name, "role": new.token.role, "token": new.secret})
        return
    print(new.secret)
    print(f"token {new.token.name!r} ({new.token.role}) created: the line above is its "
          "secret, shown only now. Use it as `Authorization: Bearer SECRET`.", file=sys.stderr)


@token_app.command("list")
def token_list(json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Every token: name, role, created, last used (when and from where), revoked."""
    from wpec_invoicing.app.tokens import list_tokens

    with _ctx(config) as ctx:
        rows = list_tokens(ctx)
    if json_out:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(rows)} token(s)")
    for col in ("name", "role", "prefix", "created", "last used", "from", "revoked"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(Text(v) for v in (
            r.name, r.role, r.prefix + "…", _when(r.created_at), _when(r.last_used_at),
            r.last_used_from or "", _when(r.revoked_at))))
    Console().print(table)


def _when(value) -> str:
    return value.isoformat(timespec="seconds") if value else ""


@token_app.command("revoke")
def token_revoke(name: Annotated[str, typer.Argument(metavar="NAME", help="The token's name.")],
                 json_out: JsonOpt = False, config: ConfigOpt = None) -> None:
    """Revoke a token: every request carrying it is refused from now on."""
    from wpec_invoicing.app.tokens import revoke_token

    with _ctx(config) as ctx:
        row = revoke_token(ctx, name, actor=_actor())
    if json_out:
        _dump(row.model_dump(mode="json"))
    else:
        print(f"token {row.name!r} revoked at {_when(row.revoked_at)}")



def _actor() -> str:
    """Who acts from this command line (for the audit log)."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"
