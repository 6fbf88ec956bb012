"""Commands of the passive cycle: sync, db upgrade, invoices list/show, import, export.

Thin: parse arguments, call the application layer (`app/`), print. Machine output (`--json`)
goes to stdout, human messages to stderr.
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
JsonOpt = Annotated[bool, typer.Option("--json",
                                       help="Print one JSON document (one line) to stdout.")]


def _config(path: Path | None):  # -> Config
    from wpec_invoicing.config import load_config

    return load_config(path)


def _app(config):  # -> app.context.AppContext (the store opens on first use)
    from wpec_invoicing.app.context import AppContext

    return AppContext(config)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _dump(data: Any) -> None:
    """One JSON document on ONE line: parseable whole and line by line (like every --json)."""
    json.dump(data, sys.stdout, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None) -> None:
    """Run the store's migrations (the first start of any command does it too)."""
    from wpec_invoicing.app.mailbox import store_revisions

    with _app(_config(config)) as ctx:
        url, heads = store_revisions(ctx)
    _err(f"store {url} is at {', '.join(heads)}")


@invoices_app.command("list")
def invoices_list(
    status: Annotated[str | None, typer.Option(
        "--status", help="verified, needs-review or refused.")] = None,
    supplier: Annotated[str | None, typer.Option(
        "--supplier", metavar="VAT", help="Only this supplier (VAT number or codice "
        "fiscale).")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DATE", help="Invoice date on or after (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(
        "--until", metavar="DATE", help="Invoice date on or before (YYYY-MM-DD).")] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """List received invoices with their verification state."""
    from wpec_invoicing.app.received import STATUSES, summaries
    from wpec_invoicing.cli.browse import parse_day
    from wpec_invoicing.errors import InputError

    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r} (use one of: {', '.join(STATUSES)})")
    day_from, day_to = parse_day("--since", since), parse_day("--until", until)
    with _app(_config(config)) as ctx:
        rows = summaries(ctx, status=status, supplier=supplier, since=day_from, until=day_to)
    if json_out:
        _dump(rows)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(rows)} received invoice(s)")
    for col in ("id", "status", "supplier", "number", "date", "type", "total", "file"):
        table.add_column(col)
    for r in rows:  # every cell is text from a supplier's file: never read as markup
        table.add_row(*(Text(str(v)) for v in (
            r["id"], r["status"], r["supplier_name"] or r["supplier_vat"] or "",
            r["number"] or "", r["date"] or "", r["document_type"] or "", r["total"] or "",
            r["file_name"] or "")))
    Console(stderr=False).print(table)


@invoices_app.command("show")
def invoices_show(
    invoice_id: Annotated[int, typer.Argument(help="The invoice id (see `invoices list`).",
                                              min=1, max=2**63 - 1)],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Show one received invoice: parties, totals, state with reasons, signatures, lines."""
    from wpec_invoicing.app.received import detail_dict

    with _app(_config(config)) as ctx:
        detail = detail_dict(ctx, invoice_id)
    if json_out:
        _dump(detail)
        return
    _print_invoice(detail)


def _print_invoice(d: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    console = Console()
    colour = {"verified": "green", "needs-review": "yellow", "refused": "red"}[d["status"]]
    # Names, numbers, reasons and lines come from a supplier's file: printed as plain text.
    console.print(f"[bold]Invoice #{d['id']}[/bold]  [{colour}]{d['status']}[/{colour}]  "
                  f"{escape(d['file_name'] or '')}")
    for reason in d["reasons"]:
        console.print(f"  - {reason['code']}: {reason['message']}", markup=False)
    rows = [
        ("supplier", f"{d['supplier_name'] or ''} {d['supplier_vat'] or ''}".strip()),
        ("customer", f"{d['customer_name'] or ''} {d['customer_vat'] or ''}".strip()),
        ("document", f"{d['document_type'] or ''} n. {d['number'] or '?'} of {d['date']}"),
        ("total", f"{d['total'] or '?'} {d['currency'] or ''} (taxable {d['taxable']}, "
                  f"VAT {d['tax']})"),
        ("IdentificativoSdI", d["identificativo_sdi"] or "-"),
        ("file signature", _sig_text(d["signature"])),
        ("PEC envelope", _sig_text(d["envelope_signature"])),
        ("source", f"{d['source']} {d['source_path'] or ''}".strip()),
    ]
    for key, value in rows:
        console.print(f"  {key:<18} {value}", markup=False)
    if d["lines"]:
        table = Table("body", "n.", "description", "qty", "price", "total", "VAT")
        for line in d["lines"]:
            table.add_row(*(Text(str(v)) for v in (
                line["body"] + 1, line["number"] or "", line["description"] or "",
                line["quantity"] or "", line["unit_price"] or "", line["total"] or "",
                line["vat_rate"] or line["natura"] or "")))
        console.print(table)


def _sig_text(sig: dict | None) -> str:
    if not sig or not sig.get("present"):
        return "none"
    state = "intact" if sig.get("intact") else f"BROKEN ({sig.get('reason')})"
    trust = {True: "trusted", False: "not trusted", None: "trust not checked"}[
        sig.get("trusted")]
    return f"{state}, {trust}, signer {sig.get('signer')}"


@invoices_app.command("load-suppliers")
def invoices_load_suppliers(
    csv_file: Annotated[Path, typer.Argument(help="CSV with vat/fiscal_code,name,status,note.")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Load the supplier registry (known / blocked) from CSV, then re-verify open invoices."""
    from wpec_invoicing.app.mailbox import load_suppliers_csv

    with _app(_config(config)) as ctx:
        result, changed = load_suppliers_csv(ctx, csv_file)
    data = result.to_json() | {"invoices_changed_state": changed}
    if json_out:
        _dump(data)
    else:
        _err(f"suppliers: {result.added} added, {result.updated} updated, "
             f"{result.unchanged} unchanged; {changed} invoice(s) changed state")
        for line in result.errors:
            _err(f"  {line}")
    if result.errors and not (result.added or result.updated or result.unchanged):
        raise typer.Exit(1)


def sync_command(
    account: Annotated[str | None, typer.Option("--account", "-a",
                                                help="Only this account.")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Keep running: IMAP IDLE, reconnect "
                                        "with backoff.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Fetch new messages from the PEC box(es): archive, classify, apply rules, export."""
    from wpec_invoicing.app import mailbox as passive

    cfg = _config(config)
    # `--account ""` is a name that matches nothing, not "every account".
    accounts = ([cfg.account(account)] if account is not None
                else list(cfg.accounts) or [cfg.account()])
    results = []
    with _app(cfg) as ctx:
        _refresh_suppliers(ctx)
        if watch:
            _watch(ctx, accounts)
            return
        for acc in accounts:
            results.append(passive.sync(ctx, acc))
    # A folder that could not be read, or a message kept but not processed (its error is
    # recorded on it), is a failure for a cron job to notice: exit 1, the batch went on.
    failed = any(f.error for r in results for f in r.folders) or any(r.errors for r in results)
    if json_out:
        _dump([r.to_json() for r in results])
        if failed:
            raise typer.Exit(1)
        return
    for r in results:
        _err(f"{r.account}: {r.archived} new, {r.known} already known, {r.processed} "
             f"processed, {r.errors} with errors, {r.invoices} invoice(s), "
             f"{r.quarantined} attachment(s) quarantined, {r.server_actions} server "
             f"action(s), {r.exported} exported")
        for f in r.folders:
            if f.error:
                _err(f"  {f.error}")
        if r.errors:
            _err(f"  {r.errors} message(s) archived but not fully processed; each keeps its "
                 "error (see the lines above) and its raw bytes in the archive")
    if failed:
        raise typer.Exit(1)


def _watch(ctx, accounts) -> None:
    import threading

    from wpec_invoicing.app.mailbox import watch

    stop = threading.Event()

    def report(result, exported: int) -> None:
        if result.archived or result.errors or exported:
            _err(f"{result.account}: {result.archived} new, {result.errors} with errors, "
                 f"{exported} exported")

    threads = watch(ctx, accounts, stop=stop, on_result=report)
    _err(f"watching {', '.join(a.name for a in accounts)} (Ctrl-C to stop)")
    try:
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=1)
    except KeyboardInterrupt:
        stop.set()
        for t in threads:
            t.join(timeout=10)


def import_command(
    paths: Annotated[list[Path], typer.Argument(help="Files, folders, .zip, .eml.")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Import invoices (XML, p7m, zip, SdI invoice + metadata pairs) and .eml messages."""
    from rich.progress import Progress

    from wpec_invoicing.app.mailbox import import_paths

    cfg = _config(config)
    with _app(cfg) as ctx:
        _refresh_suppliers(ctx)
        with Progress(transient=True, console=_stderr_console(),
                      disable=json_out or not sys.stderr.isatty()) as bar:
            task = bar.add_task("importing", total=None)

            def progress(done: int, total: int, label: str) -> None:
                bar.update(task, completed=done, total=total, description=label[-50:])

            summary = import_paths(ctx, list(paths), progress=progress)
    if json_out:
        _dump(summary.to_json())
    else:
        for item in summary.items:
            if item["result"] != "imported":
                _err(f"{item['result']:>9}: {item['input']}: {item.get('reason', '')}")
        _err(f"imported {summary.imported}, duplicates {summary.duplicates}, invalid "
             f"{summary.invalid}, skipped {summary.skipped}, refused {summary.refused}")
    if summary.invalid or summary.refused:
        raise typer.Exit(1)


def export_command(
    exporter: Annotated[list[str] | None, typer.Option(
        "--exporter", "-e", help="Only this exporter (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", help="Only invoices received on or after this date (YYYY-MM-DD).")] = None,
    again: Annotated[bool, typer.Option(
        "--again", help="Export again what was already exported.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Hand received invoices to the configured exporters (each invoice once per exporter)."""
    from datetime import date

    from wpec_invoicing.app.mailbox import run_exports
    from wpec_invoicing.errors import ConfigError, InputError

    cfg = _config(config)
    if not cfg.exporters:
        raise ConfigError("no [[exporters]] configured "
                          f"(config: {cfg.source or ' or '.join(cfg.searched)})")
    day = None
    if since:
        try:
            day = date.fromisoformat(since)
        except ValueError:
            raise InputError(f"--since {since!r}: not a date (YYYY-MM-DD)") from None
    with _app(cfg) as ctx:
        results = run_exports(ctx, names=exporter or None, since=day, again=again)
    if json_out:
        _dump([r.to_json() for r in results])
    else:
        for r in results:
            _err(f"{r.exporter}: {r.exported} exported, {r.skipped} already exported, "
                 f"{r.failed} failed")
            for line in r.errors[:20]:
                _err(f"  {line}")
    if any(r.failed for r in results):
        raise typer.Exit(1)


def _refresh_suppliers(ctx) -> None:
    from wpec_invoicing.app.mailbox import refresh_suppliers

    cfg = ctx.config
    loaded = refresh_suppliers(ctx)
    if loaded is not None:
        result, changed = loaded
        if result.added or result.updated or result.errors:
            _err(f"suppliers ({cfg.suppliers_csv}): {result.added} added, {result.updated} "
                 f"updated, {len(result.errors)} bad line(s); {changed} invoice(s) changed "
                 "state")


def _stderr_console():  # -> rich.console.Console
    from rich.console import Console

    return Console(stderr=True)


def register(app: typer.Typer) -> None:
    """Add this module's top-level commands to `app` (group commands use cli.groups)."""
    app.command("sync")(sync_command)
    app.command("import")(import_command)
    app.command("export")(export_command)
