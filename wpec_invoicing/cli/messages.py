"""`wpec messages list` and `wpec messages retry`: browse the archive (by default the
messages whose processing failed) and process failed ones again.

Thin: parse arguments, call `app.messages`, print. Machine output (`--json`) goes to stdout,
human messages to stderr. Exit codes of `retry`: 0 when every message retried is now
processed (or there was none), 1 when some failed again (their new reason is printed), 2 for
a bad request (no ids and no --all, an id that is not a message).
"""

from __future__ import annotations

from typing import Annotated

import typer

from wpec_invoicing.cli.groups import messages_app
from wpec_invoicing.cli.mailbox import ConfigOpt, JsonOpt, _app, _config, _dump, _err

STATUSES = ("error", "archived", "processed", "all")


@messages_app.command("list")
def messages_list(
    status: Annotated[str, typer.Option(
        "--status", help=f"One of: {', '.join(STATUSES)}.")] = "error",
    kind: Annotated[str | None, typer.Option(
        "--kind", metavar="KIND", help="Only this kind (posta-certificata, accettazione, "
        "invoice, ...).")] = None,
    sender: Annotated[str | None, typer.Option(
        "--from", metavar="TEXT", help="Sender containing this text.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DATE", help="Reached us on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DATE", help="Reached us on or before (YYYY-MM-DD).")] = None,
    subject: Annotated[str | None, typer.Option(
        "--subject", metavar="TEXT", help="Subject containing this text.")] = None,
    account: Annotated[str | None, typer.Option(
        "--account", "-a", metavar="NAME", help="Fetched by this account.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10**6,
                                       help="At most this many, oldest first.")] = 200,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """List messages in the store (by default those whose processing failed, with why);
    filter by kind, sender, date, subject, account."""
    from wpec_invoicing.app.messages import list_messages
    from wpec_invoicing.cli.browse import parse_day
    from wpec_invoicing.errors import InputError

    if status not in STATUSES:
        raise InputError(f"--status {status!r}: expected one of {', '.join(STATUSES)}")
    day_from, day_to = parse_day("--since", since), parse_day("--until", until)
    found = []
    with _app(_config(config)) as ctx:
        cursor = None
        while len(found) < limit:
            page = list_messages(ctx, status=None if status == "all" else status, kind=kind,
                                 account=account, sender=sender, subject=subject,
                                 since=day_from, until=day_to, cursor=cursor,
                                 limit=min(500, limit - len(found)))
            found += page.items
            cursor = page.next_cursor
            if cursor is None:
                break
    rows = [_Row(m) for m in found]
    if json_out:
        _dump([r.to_json() for r in rows])
        return
    if not rows:
        _err(f"no message with status {status}")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(rows)} message(s) with status {status}")
    for col in ("id", "received", "status", "kind", "from", "subject", "account"):
        table.add_column(col)
    table.add_column("error", overflow="fold")  # the reason is the point: never cut
    for r in rows:  # subjects and senders come from outside: never read as markup
        table.add_row(*(Text(str(v)) for v in (
            r.id, r.first_seen_at.isoformat(sep=" ", timespec="seconds"), r.status,
            r.kind or "", r.sender or "", r.subject or "",
            ", ".join(r.accounts) or "(imported)", r.error or "")))
    console = Console(stderr=False)
    if not console.is_terminal:  # pipes and files: every column whole
        console = Console(stderr=False, width=200)
    console.print(table)


@messages_app.command("retry")
def messages_retry(
    ids: Annotated[list[int] | None, typer.Argument(
        help="Message ids (see `messages list`).", min=1, max=2**63 - 1)] = None,
    all_failed: Annotated[bool, typer.Option(
        "--all", help="Every message whose processing failed.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Process again messages whose processing failed, once the cause is fixed."""
    from wpec_invoicing.app.messages import retry, statuses
    from wpec_invoicing.errors import InputError

    if not ids and not all_failed:
        raise InputError("say which messages: their ids, or --all for every failed one")
    if ids and all_failed:
        raise InputError("give ids or --all, not both")
    with _app(_config(config)) as ctx:
        if ids:
            known = statuses(ctx, ids)
            missing = sorted(set(ids) - set(known))
            if missing:
                raise InputError(f"no message with id {', '.join(map(str, missing))}")
            for i in sorted(set(ids)):
                if known[i] != "error":
                    _err(f"message {i}: status {known[i]}, nothing to retry")
        outcomes = retry(ctx, sorted(set(ids)) if ids else None)
    failed = [o for o in outcomes if not o.ok]
    if json_out:
        _dump([{"id": o.id, "ok": o.ok, "status": o.status, "error": o.error}
               for o in outcomes])
    else:
        for o in failed:
            _err(f"message {o.id}: failed again: {o.error}")
        _err(f"retried {len(outcomes)} message(s): {len(outcomes) - len(failed)} processed, "
             f"{len(failed)} failed again")
    if failed:
        raise typer.Exit(1)


class _Row:
    """A listed message as `messages list` has always printed it (`--json` keys unchanged)."""

    def __init__(self, m) -> None:  # m: app.messages.MessageSummary
        self.id, self.status, self.kind, self.subject = m.id, m.status, m.kind, m.subject
        self.sender, self.first_seen_at, self.error = m.sender, m.first_seen_at, m.error
        self.accounts = m.accounts

    def to_json(self) -> dict:
        return {"id": self.id, "status": self.status, "kind": self.kind,
                "subject": self.subject, "sender": self.sender,
                "first_seen_at": self.first_seen_at, "error": self.error,
                "accounts": list(self.accounts)}


def register(app: typer.Typer) -> None:
    """Commands live on the `messages` group (see groups.py)."""
