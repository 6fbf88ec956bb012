"""Commands of the passive cycle: sync, db upgrade, invoices list/show, import, export.

Thin: parse arguments, call the application layer (`app/`), print. Reports (tables,
summaries, `--json`) go to stdout, diagnostics to stderr; exit codes and error lines follow
`cli/output.py`.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from wpec_invoicing.cli import configured, output
from wpec_invoicing.cli.groups import db_app, invoices_app
from wpec_invoicing.cli.options import ConfigOpt, JsonOpt

INVOICE_STATUSES = ("verified", "needs-review", "refused")


def _config(path: str | None):  # -> Config
    return configured.load(path)


def _app(config):  # -> app.context.AppContext (the store opens on first use)
    from wpec_invoicing.app.context import AppContext

    return AppContext(config)


_err = output.note  # a diagnostic: stderr
_dump = output.dump_json  # one JSON document on one line: stdout


@db_app.command("upgrade")
def db_upgrade(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Create or upgrade the store (any command that uses it does this on first start too)."""
    from wpec_invoicing.app.mailbox import store_revisions

    with _app(_config(config)) as ctx:
        url, heads = store_revisions(ctx)
    if json_out:
        _dump({"store": url, "revisions": list(heads)})
    else:
        output.report(f"store {url} is at {', '.join(heads)}")


@invoices_app.command("list")
def invoices_list(
    status: Annotated[str | None, typer.Option(
        "--status", metavar="STATUS", show_default=False,
        help="Only invoices in this state: verified, needs-review or refused.")] = None,
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
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(rows)} received invoice(s)")
    for col in ("id", "received (UTC)", "status", "supplier", "number", "date", "type",
                "total", "file"):
        table.add_column(col)
    for r in rows:  # every cell is text from a supplier's file: never read as markup
        table.add_row(*(Text(str(v)) for v in (
            r["id"], output.when(r.get("received_at")), r["status"],
            r["supplier_name"] or r["supplier_vat"] or "",
            r["number"] or "", r["date"] or "", r["document_type"] or "", r["total"] or "",
            r["file_name"] or "")))
    table_console().print(table)


@invoices_app.command("show")
def invoices_show(
    invoice_id: Annotated[int, typer.Argument(
        metavar="ID", help="The invoice id (see `invoices list`).", min=1, max=2**63 - 1)],
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
    csv_file: Annotated[str, typer.Argument(
        metavar="FILE", help="CSV with the columns vat/fiscal_code, name, status, note.")],
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
        output.report(f"suppliers: {result.added} added, {result.updated} updated, "
                      f"{result.unchanged} unchanged; {changed} invoice(s) changed state")
        for line in result.errors:
            _err(f"  {line}")
    if result.errors and not (result.added or result.updated or result.unchanged):
        raise typer.Exit(1)


def sync_command(
    account: Annotated[str | None, typer.Option(
        "--account", "-a", metavar="NAME", show_default=False,
        help="Only this configured account (default: every one).")] = None,
    watch: Annotated[bool, typer.Option("--watch", help="Keep running: IMAP IDLE, reconnect "
                                        "with backoff.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Fetch new messages from the PEC box(es): archive, classify, apply rules, export.

    Exit 0, 1 when a folder or a message failed (the rest went on), 3 when a server cannot be
    reached (retry later), 4 when it refused the login (fix the credentials).
    """
    from wpec_invoicing.app import mailbox as passive

    cfg = configured.require(config, "sync")
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
        output.report(f"{r.account}: {r.archived} new, {r.known} already known, {r.processed} "
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
            output.report(f"{result.account}: {result.archived} new, {result.errors} with "
                          f"errors, {exported} exported")

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
    paths: Annotated[list[str], typer.Argument(
        metavar="FILE|DIR...",
        help="Invoice files, .eml messages, .zip archives, or folders of them (searched with "
             "their subfolders).")],
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Import invoices (XML, p7m, zip, SdI invoice + metadata pairs) and .eml messages.

    Exit 0, 1 when some files were invalid or refused (the others are imported), 2 when a
    named file or folder does not exist (then nothing is imported).
    """
    from rich.progress import Progress

    from wpec_invoicing.app.mailbox import import_paths
    from wpec_invoicing.cli.paths import missing
    from wpec_invoicing.errors import InputError

    absent = missing(paths)
    if absent:
        raise InputError(f"{', '.join(absent)}: no such file or folder (nothing imported)")
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
                output.report(f"{item['result']:>9}: {item['input']}: {item.get('reason', '')}")
        output.report(f"imported {summary.imported}, duplicates {summary.duplicates}, invalid "
                      f"{summary.invalid}, skipped {summary.skipped}, refused {summary.refused}")
    if summary.invalid or summary.refused:
        raise typer.Exit(1)


def export_command(
    exporter: Annotated[list[str] | None, typer.Option(
        "--exporter", "-e", metavar="NAME", show_default=False,
        help="Only this configured exporter (repeatable).")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="DATE", show_default=False,
        help="Only invoices received on or after this date (YYYY-MM-DD).")] = None,
    again: Annotated[bool, typer.Option(
        "--again", help="Export again what was already exported.")] = False,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Hand received invoices to the configured exporters (each invoice once per exporter)."""
    from datetime import date

    from wpec_invoicing.app.mailbox import run_exports
    from wpec_invoicing.errors import ConfigError, InputError

    cfg = configured.require(config, "export")
    if not cfg.exporters:
        raise ConfigError(f"no [[exporters]] configured in {cfg.source}: add one (jsonl, csv "
                          "or webhook) to say where invoices go")
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
            output.report(f"{r.exporter}: {r.exported} exported, {r.skipped} already "
                          f"exported, {r.failed} failed")
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


def table_console():  # -> rich.console.Console
    """Tables on stdout; piped or redirected, wide enough that no column is folded."""
    from rich.console import Console

    console = Console(highlight=False)
    return console if console.is_terminal else Console(highlight=False, width=200)


def _stderr_console():  # -> rich.console.Console (progress bars are diagnostics)
    from rich.console import Console

    return Console(stderr=True)
