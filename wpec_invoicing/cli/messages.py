"""`wpec messages list` and `wpec messages retry`: the messages whose processing failed.

Thin: parse arguments, call `mailbox.retry`, print. Reports (the table, the summary,
`--json`) go to stdout, diagnostics to stderr. Exit codes of `retry`: 0 when every message
retried is now processed (or there was none), 1 when some failed again (their new reason is
printed), 2 for a bad request (no ids and no --all, an id that is not a message).
"""

from __future__ import annotations

from typing import Annotated

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.groups import messages_app
from wpec_invoicing.cli.mailbox import _config, _dump, _err, _store, table_console
from wpec_invoicing.cli.options import ConfigOpt, JsonOpt

STATUSES = ("error", "archived", "processed", "all")


@messages_app.command("list")
def messages_list(
    status: Annotated[str, typer.Option(
        "--status", metavar="STATUS", help=f"One of: {', '.join(STATUSES)}.")] = "error",
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, max=10**6,
                                       help="At most N messages, oldest first.")] = 200,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """List messages in the store: by default those whose processing failed, with why."""
    from wpec_invoicing.errors import InputError
    from wpec_invoicing.mailbox.retry import list_messages

    if status not in STATUSES:
        raise InputError(f"--status {status!r}: expected one of {', '.join(STATUSES)}")
    cfg = _config(config)
    store = _store(cfg)
    try:
        rows = list_messages(store, status=None if status == "all" else status, limit=limit)
    finally:
        store.close()
    if json_out:
        _dump([r.to_json() | {"first_seen_at": output.when_json(r.first_seen_at)}
               for r in rows])
        return
    if not rows:
        output.report(f"no message with status {status}")
        return
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(rows)} message(s) with status {status}")
    for col in ("id", "received (UTC)", "status", "kind", "from", "subject", "account"):
        table.add_column(col)
    table.add_column("error", overflow="fold")  # the reason is the point: never cut
    for r in rows:  # subjects and senders come from outside: never read as markup
        table.add_row(*(Text(str(v)) for v in (
            r.id, output.when(r.first_seen_at), r.status, r.kind or "", r.sender or "",
            r.subject or "",
            ", ".join(r.accounts) or "(imported)", r.error or "")))
    table_console().print(table)


@messages_app.command("retry")
def messages_retry(
    ids: Annotated[list[int] | None, typer.Argument(
        metavar="ID...", help="Message ids (see `messages list`).", min=1,
        max=2**63 - 1)] = None,
    all_failed: Annotated[bool, typer.Option(
        "--all", help="Every message whose processing failed.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Process again messages whose processing failed, once the cause is fixed."""
    from wpec_invoicing.errors import InputError
    from wpec_invoicing.mailbox.retry import retry_failed, statuses

    if not ids and not all_failed:
        raise InputError("say which messages: their ids, or --all for every failed one")
    if ids and all_failed:
        raise InputError("give ids or --all, not both")
    cfg = _config(config)
    store = _store(cfg)
    try:
        if ids:
            known = statuses(store, ids)
            missing = sorted(set(ids) - set(known))
            if missing:
                raise InputError(f"no message with id {', '.join(map(str, missing))}")
            for i in sorted(set(ids)):
                if known[i] != "error":
                    _err(f"message {i}: status {known[i]}, nothing to retry")
        outcomes = retry_failed(store, cfg, sorted(set(ids)) if ids else None)
    finally:
        store.close()
    failed = [o for o in outcomes if not o.ok]
    if json_out:
        _dump([{"id": o.id, "ok": o.ok, "status": o.status, "error": o.error}
               for o in outcomes])
    else:
        for o in failed:
            output.report(f"message {o.id}: failed again: {o.error}")
        output.report(f"retried {len(outcomes)} message(s): {len(outcomes) - len(failed)} "
                      f"processed, {len(failed)} failed again")
    if failed:
        raise typer.Exit(1)
