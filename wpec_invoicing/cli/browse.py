"""Browsing through the application layer: `wpec invoices sent` (sent invoices with their
state) and `wpec alerts` (what an operator must look at). Reports on stdout; `--json` gives
one JSON document."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from wpec_invoicing.cli.groups import invoices_app, messages_app
from wpec_invoicing.cli.tokens import ConfigOpt, JsonOpt, _ctx, _dump, _when
from wpec_invoicing.errors import InputError

LIMIT = 500


def parse_day(option: str, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{option} {value!r}: not a date (YYYY-MM-DD)") from None


def _all_pages(fetch) -> list:
    """Every item of a keyset listing, page after page."""
    items, cursor = [], None
    while True:
        page = fetch(cursor)
        items += page.items
        cursor = page.next_cursor
        if cursor is None:
            return items


@invoices_app.command("sent")
def invoices_sent(
    state: Annotated[list[str] | None, typer.Option(
        "--state", metavar="STATE", help="SdI state (delivered, rejected, not-delivered...), "
        "queue status (queued, sent, failed) or provider state; repeatable.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DATE", help="Queued on or after this day (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DATE", help="Queued on or before this day (YYYY-MM-DD).")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Sent invoices with their state: queue, provider, SdI."""
    from wpec_invoicing.app.sent import list_sent

    day_from, day_to = parse_day("--since", since), parse_day("--until", until)
    with _ctx(config) as ctx:
        rows = _all_pages(lambda cursor: list_sent(
            ctx, states=state, since=day_from, until=day_to, cursor=cursor, limit=LIMIT))
    if json_out:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(rows)} sent invoice(s)")
    for col in ("id", "file", "number", "customer", "total", "queued", "status", "provider",
                "SdI"):
        table.add_column(col)
    for r in rows:
        doc = r.document or {}
        table.add_row(*(Text(str(v or "")) for v in (
            r.id, r.file_name, r.invoice_number, doc.get("customer"), doc.get("total"),
            _when(r.created_at), r.status, r.provider_state, r.sdi_state)))
    console = Console()
    if not console.is_terminal:  # pipes and files: every column whole
        console = Console(width=200)
    console.print(table)


def alerts_command(
    all_alerts: Annotated[bool, typer.Option("--all", help="Closed alerts too.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Open alerts (account paused, no acceptance in time, a look-alike SdI message...)."""
    from wpec_invoicing.app.alerts import list_alerts

    with _ctx(config) as ctx:
        rows = _all_pages(lambda cursor: list_alerts(ctx, open_only=not all_alerts,
                                                     cursor=cursor, limit=LIMIT))
    if json_out:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    if not rows:
        print("no open alert" if not all_alerts else "no alert")
        return
    for a in rows:
        closed = f" (closed {_when(a.resolved_at)})" if a.resolved_at else ""
        print(f"#{a.id} {_when(a.created_at)} {a.kind}"
              f"{' [' + a.account + ']' if a.account else ''}: {a.message}{closed}")


@messages_app.command("show")
def messages_show(
    message_id: Annotated[int, typer.Argument(metavar="ID", min=1, max=2**31 - 1,
                                              help="The message id (see `messages list`).")],
    raw: Annotated[bool, typer.Option("--raw", help="Write the message exactly as received "
                                      "(.eml bytes) to stdout.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """One message: kind, sender, certification data (daticert), signature verdict,
    attachments, where it sits, what the rules did, the invoices it carried."""
    import sys

    from wpec_invoicing.app import messages

    with _ctx(config) as ctx:
        if raw:
            sys.stdout.buffer.write(messages.raw_message(ctx, message_id).data)
            sys.stdout.flush()
            return
        m = messages.get_message(ctx, message_id)
    if json_out:
        _dump(m.model_dump(mode="json"))
        return
    sig = m.signature or {}
    trust = {True: "trusted", False: "not trusted"}.get(sig.get("trusted"), "trust not checked")
    verdict = ("none" if not sig.get("present") else
               f"{'intact' if sig.get('intact') else 'BROKEN'}, {trust}, "
               f"signer {sig.get('signer')}")
    lines = [
        f"message #{m.id}  {m.status}  {m.kind or '?'}",
        f"  subject      {m.subject or ''}",
        f"  from         {m.sender or ''}",
        f"  to           {', '.join(m.recipients)}",
        f"  sent         {_when(m.sent_at)}",
        f"  received     {_when(m.first_seen_at)} ({m.source})",
        f"  Message-ID   {m.message_id or ''}",
        f"  signature    {verdict}",
    ]
    if m.daticert:
        lines.append("  daticert     " + ", ".join(
            f"{k}={v}" for k, v in m.daticert.items() if v not in (None, "", [], {})))
    if m.error:
        lines.append(f"  error        {m.error}")
    for p in m.problems:
        lines.append(f"  problem      {p}")
    for a in m.attachments:
        lines.append(f"  attachment   {a.name} ({a.content_type}, {a.size} bytes) {a.sha256}")
    for loc in m.locations:
        lines.append(f"  location     {loc.account} {loc.folder} uid {loc.uid}"
                     f"{' (gone)' if loc.gone else ''}")
    for r in m.rule_results:
        lines.append(f"  rule         {r.action} {r.target or ''} {r.status} {r.detail or ''}")
    if m.invoice_ids:
        lines.append(f"  invoices     {', '.join(f'#{i}' for i in m.invoice_ids)}")
    print("\n".join(lines))


def register(app: typer.Typer) -> None:
    app.command("alerts")(alerts_command)
