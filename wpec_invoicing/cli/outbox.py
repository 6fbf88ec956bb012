"""Commands of the active cycle: `wpec send`, `wpec invoice create|history`, `wpec mail send`,
`wpec outbox run|status|resume`, and `wpec demo`. Thin: parse, call the application layer
(`app.sent`: the outbox of the context, its waiting reasons, the files sent), print.
Refusals print the same diagnostics as `wpec invoice validate` and exit 1, with nothing of
the batch queued. Reports (what was queued, sent, the status, a history) go to stdout,
progress bars and diagnostics to stderr; exit codes follow `cli/output.py`: 0 all went, 1 an
item failed or was refused, 2 usage or configuration, 3 temporary (SMTP server unreachable,
run stopped: retry later), 4 refused by the server (account paused: fix the credentials).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from wpec_invoicing.cli import configured, output
from wpec_invoicing.cli.groups import invoice_app, mail_app, outbox_app
from wpec_invoicing.cli.options import AccountOpt, ConfigOpt, JsonOpt
from wpec_invoicing.errors import InputError

MAX_INPUT_BYTES = 50 * 1024 * 1024


def escape(text: str) -> str:
    from rich.markup import escape as rich_escape

    return rich_escape(text)


@contextmanager
def _outbox(config: str | None, command: str) -> Iterator[Any]:
    """The outbox over the application context of `config` (which `command` requires; closed
    at the end)."""
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.app.sent import outbox_service

    with AppContext(configured.require(config, command)) as ctx:
        outbox = outbox_service(ctx)
        outbox.app_context = ctx
        yield outbox


def _console(*, stderr: bool = False):
    """Reports on stdout; `stderr=True` for progress bars (diagnostics)."""
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False, soft_wrap=True)
    if not console.is_terminal:  # logs and CI: wide enough for the summary tables
        console = Console(stderr=stderr, highlight=False, soft_wrap=True, width=150)
    return console


_print_json = output.dump_json


def _report_refusals(exc: Any, as_json: bool) -> None:
    """Print why a batch was refused: invoice reports exactly as `wpec invoice validate`."""
    from wpec_invoicing.cli.invoice import _human

    console = _console()
    for refusal in exc.refusals:
        if as_json:
            _print_json({"refused": refusal.to_json()})
            continue
        if refusal.report is not None and not refusal.report.valid:
            _human(console, refusal.report)
            extra = [r for r in refusal.reasons if not r[:5].isdigit()]
        else:
            console.print(f"[red]REFUSED[/] {escape(refusal.name)}")
            extra = refusal.reasons
        for reason in extra:
            console.print(f"    {reason}", markup=False)
    output.error(str(exc))
    if as_json:
        output.json_error(str(exc), output.EXIT_SOME_BAD, "refused")


def _queue_and_maybe_run(outbox, fn, *, run: bool, as_json: bool) -> None:
    from wpec_invoicing.outbox.queue import Refused

    try:
        queued = fn()
    except Refused as exc:
        _report_refusals(exc, as_json)
        raise typer.Exit(1) from None
    console = _console()
    if as_json:
        for q in queued:
            _print_json({"queued": {"id": q.id, "name": q.name, "file_name": q.file_name,
                                    "recipient": q.recipient, "message_id": q.message_id}})
    else:
        for q in queued:
            console.print(f"queued #{q.id} {q.name} → {q.recipient}", markup=False)
    if run and queued:
        result = _run(outbox, until_empty=False, account=None, max_seconds=None,
                      as_json=as_json)
        _exit_for(result, as_json)
    elif queued and not as_json:
        console.print(f"{len(queued)} message(s) queued; `wpec outbox run` sends them.")


def _run(outbox, *, until_empty: bool, account: str | None, max_seconds: float | None,
         as_json: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    _preflight(outbox, account)
    console = _console()
    bar_console = _console(stderr=True)
    if as_json or not bar_console.is_terminal:
        result = outbox.run(until_empty=until_empty, account=account, max_seconds=max_seconds)
    else:
        with Progress("[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn(), console=bar_console) as bar:
            task = bar.add_task("sending", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total or None)

            result = outbox.run(until_empty=until_empty, account=account,
                                max_seconds=max_seconds, progress=progress)
    reasons = _waiting_reasons(outbox, account) if result.remaining and not result.sent else []
    # Nothing went out and the server could not even be reached: not "throttling" (the
    # sender's word for any "try later"), a failure to connect, counted as such.
    result.unreachable = any(r.startswith("connection problem") for r in reasons)
    result.connection_failures = 0
    if result.unreachable:
        result.connection_failures, result.throttled = result.throttled, 0
    if as_json:
        _print_json({"run": result.to_json()})
    else:
        console.print(
            f"sent {result.sent}, failed {result.failed}, throttled {result.throttled}, "
            + (f"could not connect {result.connection_failures}, "
               if result.unreachable else "")
            + f"recovered after a crash {result.recovered}, still queued {result.remaining}"
            f" ({result.seconds:.1f} s)", markup=False)
        for name in result.paused_accounts:
            output.error(f"account {name} is paused (see `wpec outbox status`)")
        for error in result.errors:
            output.error(f"stopped: {error}")
        for reason in reasons:
            console.print(f"still queued because: {reason}", markup=False)
        if result.unreachable:
            servers = ", ".join(f"{a.name}: {a.smtp.host}:{a.smtp.port} ({a.smtp.tls})"
                                for a in _accounts(outbox, account) if a.smtp is not None)
            output.error(f"cannot reach the SMTP server ({servers}); nothing is lost: the "
                         "next `wpec outbox run` retries")
    return result


def _accounts(outbox, account: str | None) -> list[Any]:
    return [outbox.account(account)] if account is not None else list(outbox.config.accounts)


def _preflight(outbox, account: str | None) -> None:
    """Local settings first: a missing password file or a bad ca_file is a config error said
    as such, before any item is claimed (sending would otherwise record it as an uncertain
    submission)."""
    accounts = _accounts(outbox, account)
    if not accounts:
        outbox.account(None)  # the clear "no [[accounts]] configured" error
    for acc in accounts:
        if acc.smtp is None:
            continue
        acc.password()
        acc.smtp.ssl_context()


def _waiting_reasons(outbox, account: str | None) -> list[str]:
    """The distinct last errors of the items still waiting (why nothing went out)."""
    from wpec_invoicing.app.sent import waiting_reasons

    return waiting_reasons(outbox.app_context, account)


# -- wpec send --------------------------------------------------------------------------------
def _read_input(path: Path) -> bytes:
    from wpec_invoicing.inputs import read_file

    try:
        return read_file(path, max_bytes=MAX_INPUT_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None


def send_command(
    files: Annotated[list[str], typer.Argument(metavar="FILE...",
                                               help="FatturaPA files (.xml, .xml.p7m).")],
    account: AccountOpt = None,
    queue_only: Annotated[bool, typer.Option("--queue-only",
                                             help="Queue, do not send now.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send ready FatturaPA files to SdI (validated first; all or none are queued)."""
    inputs = [(_read_input(Path(p)), Path(p).name) for p in files]  # the files first
    with _outbox(config, "send") as outbox:
        prepared = [outbox.prepare_invoice_file(data, name) for data, name in inputs]
        _queue_and_maybe_run(outbox, lambda: outbox.enqueue(prepared, account=account),
                             run=not queue_only, as_json=as_json)


# -- wpec invoice create / history -------------------------------------------------------------
@invoice_app.command("create")
def invoice_create(
    source_arg: Annotated[str, typer.Option("--from", metavar="FILE",
                                            help="Invoices as JSON or CSV.")],
    lines_arg: Annotated[str | None, typer.Option(
        "--lines", metavar="FILE", show_default=False,
        help="CSV of invoice lines (column `ref` joins them to the invoices).")] = None,
    send: Annotated[bool, typer.Option("--send", help="Send them now (else: queued).")] = False,
    out_arg: Annotated[str | None, typer.Option(
        "--out", "-o", metavar="DIR", show_default=False,
        help="Also write each created XML file into this folder.")] = None,
    account: AccountOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create invoices from data: numbered, written, validated and queued (all or none)."""
    from wpec_invoicing.outbox.invoices import RecordError, load_records

    source = Path(source_arg)
    lines = Path(lines_arg) if lines_arg is not None else None
    out = Path(out_arg) if out_arg is not None else None
    kind = "json" if source.suffix.lower() == ".json" else "csv"
    try:
        text = _read_input(source).decode("utf-8-sig")
        if lines is None and kind == "csv":
            for candidate in (source.with_name(f"{source.stem}-lines.csv"),
                              source.with_name(f"{source.stem}_lines.csv")):
                if candidate.is_file():
                    lines = candidate
                    break
        lines_text = _read_input(lines).decode("utf-8-sig") if lines else None
        records, supplier = load_records(text, kind=kind, lines_text=lines_text)
    except UnicodeDecodeError:
        raise InputError(f"{source}: not UTF-8 text") from None
    except RecordError as exc:
        raise InputError(f"{source}: {exc}") from None
    if not records:
        raise InputError(f"{source}: no invoices in it")
    if out is not None:  # checked before anything is queued
        if out.exists() and not out.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder")
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot create the folder: "
                             f"{exc.strerror or exc}") from None
    with _outbox(config, "invoice create") as outbox:
        def create():
            queued = outbox.create_invoices(records, supplier=supplier, account=account)
            if out is not None:
                _write_out(outbox, queued, out)
            return queued

        _queue_and_maybe_run(outbox, create, run=send, as_json=as_json)


def _write_out(outbox, queued, out: Path) -> None:
    from wpec_invoicing.app.sent import sent_file

    out.mkdir(parents=True, exist_ok=True)
    for q in queued:
        f = sent_file(outbox.app_context, q.id)
        (out / f.file_name).write_bytes(f.data)


@invoice_app.command("history")
def invoice_history(
    name: Annotated[str, typer.Argument(
        metavar="NAME", help="File name (also .xml.p7m / without extension), invoice number, "
                             "Message-ID or outbox id.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The whole timeline of a sent invoice: queue, attempts, provider receipts, SdI."""
    with _outbox(config, "invoice history") as outbox:
        items = outbox.history(name)
    if not items:
        raise InputError(f"nothing sent under {name!r}")
    if as_json:
        _print_json(items if len(items) > 1 else items[0])
        return
    from rich.table import Table
    from rich.text import Text

    console = _console()
    for item in items:
        console.print(
            f"[bold]{escape(item['file_name'] or item['subject'] or '')}[/] #{item['id']} → "
            f"{escape(item['recipient'])}  status {item['status']}, provider "
            f"{item['provider_state'] or '-'}, SdI {item['sdi_state'] or '-'}"
            + (f" (IdentificativoSdI {item['identificativo_sdi']})"
               if item["identificativo_sdi"] else ""))
        table = Table(show_edge=False)
        for col in ("when (UTC)", "source", "event", "detail"):
            table.add_column(col)
        for e in item["events"]:
            table.add_row(*(Text(v) for v in ((e["at"] or "")[:19].replace("T", " "),
                                              e["source"], e["event"], e["detail"] or "")))
        console.print(table)
        for err in item["sdi_errors"] or []:
            console.print(f"    SdI error {err.get('code')}: {err.get('description')}",
                          markup=False)


# -- wpec mail send ----------------------------------------------------------------------------
@mail_app.command("send")
def mail_send(
    recipients_arg: Annotated[str, typer.Option(
        "--recipients", metavar="FILE",
        help="CSV, one row per recipient (column pec/email/address).")],
    template_arg: Annotated[str, typer.Option(
        "--template", metavar="FILE",
        help="`Subject: ...`, blank line, body; {column} placeholders.")],
    attach_dir_arg: Annotated[str | None, typer.Option(
        "--attach-dir", metavar="DIR", show_default=False,
        help="Folder of each recipient's files.")] = None,
    queue_only: Annotated[bool, typer.Option("--queue-only",
                                             help="Queue, do not send now.")] = False,
    account: AccountOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One personalised PEC per recipient (never Bcc), each with its own files and receipts."""
    from wpec_invoicing.outbox.mailmerge import (
        TemplateError,
        parse_template,
        read_recipients,
        render,
        row_attachments,
    )
    from wpec_invoicing.outbox.queue import Refusal

    recipients, template = Path(recipients_arg), Path(template_arg)
    attach_dir = Path(attach_dir_arg) if attach_dir_arg is not None else None
    texts = {}
    for option, path in (("--template", template), ("--recipients", recipients)):
        try:
            texts[option] = _read_input(path).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{option} {path}: not UTF-8 text") from None
    try:
        tpl = parse_template(texts["--template"])
    except TemplateError as exc:
        raise InputError(f"--template {template}: {exc}") from None
    try:
        rows, column = read_recipients(texts["--recipients"])
    except TemplateError as exc:
        raise InputError(f"--recipients {recipients}: {exc}") from None
    if not rows:
        raise InputError(f"{recipients}: no recipients in it")
    if attach_dir is not None and not attach_dir.is_dir():
        raise InputError(f"--attach-dir {attach_dir}: not a folder")
    with _outbox(config, "mail send") as outbox:
        prepared: list[Any] = []
        for n, row in enumerate(rows, 2):
            address = row.get(column, "")
            label = f"row {n} ({address or 'no address'})"
            rendered = render(tpl, row)
            files, problems = row_attachments(row, address, attach_dir)
            if isinstance(rendered, list):
                problems = rendered + problems
            if problems:
                prepared.append(Refusal(label, problems))
                continue
            subject, body = rendered
            prepared.append(outbox.prepare_mail(address, subject, body, files, name=label))
        _queue_and_maybe_run(outbox, lambda: outbox.enqueue(prepared, account=account),
                             run=not queue_only, as_json=as_json)


# -- wpec outbox run / status / resume ---------------------------------------------------------
@outbox_app.command("run")
def outbox_run(
    until_empty: Annotated[bool, typer.Option(
        "--until-empty", help="Wait out retries until every item is sent or failed.")] = False,
    account: AccountOpt = None,
    max_seconds: Annotated[float | None, typer.Option(
        "--max-seconds", metavar="SECONDS", show_default=False,
        help="Stop after this long (the rest stays queued).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send what is queued: throttled, retried, never twice (safe to kill and re-run)."""
    if max_seconds is not None and not (max_seconds > 0 and max_seconds != float("inf")):
        raise InputError(f"--max-seconds {max_seconds}: must be a number of seconds above 0")
    with _outbox(config, "outbox run") as outbox:
        result = _run(outbox, until_empty=until_empty, account=account,
                      max_seconds=max_seconds, as_json=as_json)
    _exit_for(result, as_json)


def _exit_for(result, as_json: bool = False) -> None:
    """The same exit codes for `outbox run` and the sends that run it (`send`, `--send`);
    under --json a failure also ends with the JSON error object (the lines above said why)."""
    if result.paused_accounts:  # the server refused us: fix the account
        if as_json:
            output.json_error(f"account(s) paused: {', '.join(result.paused_accounts)}",
                              output.EXIT_REFUSED)
        raise typer.Exit(output.EXIT_REFUSED)
    if result.unreachable or result.errors:  # nothing lost: retry later
        if as_json:
            why = "cannot reach the SMTP server" if result.unreachable else "; ".join(
                result.errors)
            output.json_error(f"{why}; the items stay queued", output.EXIT_TEMPORARY)
        raise typer.Exit(output.EXIT_TEMPORARY)
    if result.failed:
        raise typer.Exit(output.EXIT_SOME_BAD)


@outbox_app.command("status")
def outbox_status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Counts per state (queue, provider, SdI), accounts, open alerts."""
    with _outbox(config, "outbox status") as outbox:
        data = outbox.status()
    if as_json:
        _print_json(data)
        return
    console = _console()
    console.print(f"{data['items']} item(s)")
    for title, key in (("queue", "status"), ("provider", "provider"), ("SdI", "sdi")):
        parts = ", ".join(f"{k} {v}" for k, v in sorted(data[key].items()))
        console.print(f"  {title}: {parts or '-'}", markup=False)
    for a in data["accounts"]:
        state = f"PAUSED: {a['pause_reason']}" if a["paused"] else "active"
        console.print(f"  account {a['name']}: {state}; SdI address "
                      f"{a['sdi_address'] or '(not learned yet)'}", markup=False)
    for alert in data["alerts"]:
        console.print(f"  [red]ALERT[/] {escape(alert['kind'])}: {escape(alert['message'])}")


@outbox_app.command("resume")
def outbox_resume(account: Annotated[str, typer.Argument(
                      metavar="NAME", help="The configured account to resume.")],
                  config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Resume a paused account (after fixing its credentials) and close its alert."""
    with _outbox(config, "outbox resume") as outbox:
        outbox.account(account)
        outbox.resume_account(account)
    if as_json:
        _print_json({"account": account, "resumed": True})
    else:
        output.report(f"account {account} resumed")


# -- wpec demo ---------------------------------------------------------------------------------
def demo_command(
    directory: Annotated[str | None, typer.Option(
        "--dir", metavar="DIR", show_default=False,
        help="Work folder (default: ./wpec-data/demo, cleaned first).")] = None,
    imap: Annotated[str, typer.Option(
        "--imap", metavar="SERVER",
        help="IMAP server: embedded (pymap) or dovecot (needs dovecot-imapd).")] = "embedded",
    as_json: JsonOpt = False,
    serve: Annotated[bool, typer.Option(
        "--serve", help="Then keep the console up on the demo's data (Ctrl-C stops it).")] = False,
    port: Annotated[int, typer.Option("--port", metavar="N", min=1, max=65535,
                                      help="The console's port with --serve.")] = 8080,
) -> None:
    """Run the whole job on a local sandbox: send invoices, receive some, follow everything."""
    from wpec_invoicing.demo import run_demo
    from wpec_invoicing.errors import WpecError
    from wpec_invoicing.sandbox import SandboxError

    if imap not in ("embedded", "dovecot"):
        raise InputError(f"--imap must be 'embedded' or 'dovecot', not {imap!r}")
    try:
        summary = run_demo(Path(directory) if directory is not None else None, imap=imap,
                           log=None if as_json else _console().print)
    except SandboxError as exc:  # e.g. Dovecot not installed, a port taken
        raise WpecError(f"demo: the sandbox cannot start: {exc}") from None
    if as_json:
        _print_json(summary.to_json())
    else:
        summary.print(_console())
    if serve:
        from wpec_invoicing.web.console.serve import serve_demo

        serve_demo(Path(summary.work_dir), port=port, echo=_console().print)
    raise typer.Exit(0 if summary.ok else 1)
