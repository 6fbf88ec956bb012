"""Commands of the passive cycle: sync, db upgrade, invoices list/show, import, export.

Thin: parse arguments, call a service, print. Machine output (`--json`) goes to stdout,
human messages to stderr.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from wpec_invoicing.cli.groups import db_app, invoices_app

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="wpec.toml to use (default: $WPEC_CONFIG, ./wpec.toml)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document to stdout.")]


def _config(path: Path | None):  # -> Config
    from wpec_invoicing.config import load_config

    return load_config(path)


def _store(config):
    from wpec_invoicing.store.db import Store

    return Store.from_config(config)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _dump(data: Any) -> None:
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Run the store's migrations (the first start of any command does it too)."""
    from wpec_invoicing.store.db import current_revisions

    cfg = _config(config)
    store = _store(cfg)
    try:
        heads = ", ".join(sorted(current_revisions(store.engine)))
    finally:
        store.close()
    _err(f"store {store.engine.url.render_as_string(hide_password=True)} is at {heads}")


@invoices_app.command("list")
def invoices_list(
    status: Annotated[str | None, typer.Option(
        "--status", help="verified, needs-review or refused.")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """List received invoices with their verification state."""
    from wpec_invoicing.rules.invoices import invoice_summary, list_invoices

    cfg = _config(config)
    store = _store(cfg)
    try:
        with store.session() as session:
            rows = [invoice_summary(inv) for inv in list_invoices(session, status=status)]
    finally:
        store.close()
    if json_out:
        _dump(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} received invoice(s)")
    for col in ("id", "status", "supplier", "number", "date", "type", "total", "file"):
        table.add_column(col)
    for r in rows:
        table.add_row(str(r["id"]), r["status"], r["supplier_name"] or r["supplier_vat"] or "",
                      r["number"] or "", str(r["date"] or ""), r["document_type"] or "",
                      str(r["total"] or ""), r["file_name"] or "")
    Console(stderr=False).print(table)


@invoices_app.command("show")
def invoices_show(
    invoice_id: Annotated[int, typer.Argument(help="The invoice id (see `invoices list`).")],
    json_out: JsonOpt = True,
    config: ConfigOpt = None,
) -> None:
    """Show one received invoice: parties, totals, state with reasons, signatures, lines."""
    from wpec_invoicing.errors import InputError
    from wpec_invoicing.rules.invoices import invoice_detail
    from wpec_invoicing.store.models import ReceivedInvoice

    cfg = _config(config)
    store = _store(cfg)
    try:
        with store.session() as session:
            inv = session.get(ReceivedInvoice, invoice_id)
            if inv is None:
                raise InputError(f"no received invoice with id {invoice_id}")
            detail = invoice_detail(inv)
    finally:
        store.close()
    _dump(detail)


def register(app: typer.Typer) -> None:
    """Add this module's top-level commands to `app` (group commands use cli.groups)."""
