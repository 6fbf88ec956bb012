"""`wpec audit`: who changed what through the API (and the CLI's token commands)."""

from __future__ import annotations

from typing import Annotated

import typer

from wpec_invoicing.cli.tokens import ConfigOpt, JsonOpt, _ctx, _dump, _when


def audit_command(
    limit: Annotated[int, typer.Option("--limit", metavar="N", min=1, max=500,
                                       help="How many entries, newest first.")] = 100,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The audit log, newest first: when, who, what, from where, result."""
    from wpec_invoicing.app.audit import list_audit

    with _ctx(config) as ctx:
        rows = list_audit(ctx, limit=limit).items
    if json_out:
        _dump([r.model_dump(mode="json") for r in rows])
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(rows)} audit entr{'y' if len(rows) == 1 else 'ies'}")
    for col in ("when", "who", "what", "target", "from", "result"):
        table.add_column(col)
    for r in rows:
        table.add_row(*(Text(v or "") for v in (
            _when(r.at), r.actor, r.action, r.target, r.address, r.result)))
    Console().print(table)


def register(app: typer.Typer) -> None:
    app.command("audit")(audit_command)
