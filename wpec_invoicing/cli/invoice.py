"""`wpec invoice validate | show | attachments`: the FatturaPA engine on the command line.

Contract of `validate` (other tools rely on it): exit 0 when every file is valid, 1 when any
is invalid, 2 when any cannot be read at all; with `--json`, one JSON object per input file
per line on stdout (see `InvoiceReport.to_json`). Reports go to stdout, one file at a time:
nothing is kept per file once it is printed, so 10,000 files take the memory of one.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Annotated, Any

import typer

from wpec_invoicing.cli import output
from wpec_invoicing.cli.groups import invoice_app
from wpec_invoicing.cli.paths import INVOICE_SUFFIXES, load_trust_store, walk
from wpec_invoicing.errors import InputError

MAX_FILE_BYTES = 50 * 1024 * 1024
EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = output.EXIT_OK, output.EXIT_SOME_BAD, output.EXIT_USAGE

TrustOpt = Annotated[
    str | None,
    typer.Option("--trust", metavar="FILE|DIR", show_default=False,
                 help="PEM file, or folder of .pem/.crt/.cer files, of the CAs to judge "
                      "signers by (p7m, XAdES)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (one document "
                                                      "per line).")]


def _console() -> Any:  # rich.console.Console, imported only for human output
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


def _load_trust(path: str | None) -> Any:
    return None if path is None else load_trust_store(path)


def _load(path: str) -> tuple[bytes | None, str | None]:
    """The bytes of FILE (or of stdin for `-`), or why they cannot be had."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        return (None, "input too large") if len(data) > MAX_FILE_BYTES else (data, None)
    from wpec_invoicing.inputs import read_file

    try:
        return read_file(path, max_bytes=MAX_FILE_BYTES), None
    except OSError as exc:
        return None, exc.strerror or str(exc)


def _judge(path: str, data: bytes | None, error: str | None, *, lenient: bool,
           trust: Any, as_given: bool = True) -> Any:  # -> InvoiceReport
    """The report on FILE; `file_name` is the path as given (`as_given=False`: the bare name,
    cheaper when the caller writes the path itself)."""
    from wpec_invoicing.fatturapa import InvoiceReport, read_invoice

    if data is None:
        return InvoiceReport(file_name=path, error=error)
    # stdin has no file name, so no 00001; a file's check 00001 uses the bare name
    name = None if path == "-" else os.path.basename(path)
    report = read_invoice(data, file_name=name, lenient=lenient, trust=trust)
    return _with_file(report, path) if as_given else report


def _read_path(path: str, *, lenient: bool, trust: Any) -> Any:  # -> InvoiceReport
    data, error = _load(path)
    return _judge(path, data, error, lenient=lenient, trust=trust)


def _with_file(report: Any, file: str) -> Any:
    from dataclasses import replace

    return replace(report, file_name=file)


def _exit_code(unreadable: int, invalid: int) -> int:
    if unreadable:
        return EXIT_UNREADABLE
    if invalid:
        return EXIT_INVALID
    return EXIT_VALID


def _short(text: str, limit: int = 300) -> str:
    """A message quoting a 2 MB <Descrizione> must not flood the terminal (JSON keeps it)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _human(console: Any, r: Any, file: str | None = None) -> None:
    """One report for a person; `file` (default: the report's file name) names the file."""
    from rich.markup import escape

    file = r.file_name if file is None else file
    if not r.readable:
        console.print(f"[red]UNREADABLE[/] {escape(file)}: {escape(r.error or '')}")
        return
    state = "[green]VALID[/]" if r.valid else "[red]INVALID[/]"
    n = len(r.document.bodies) if r.document else 0
    sig = ""
    if r.signature is not None:
        trusted = {True: "trusted", False: "NOT trusted", None: "trust not checked"}
        intact = {True: "intact", False: "NOT intact", None: "not verified"}
        sig = ", signature " + intact[r.signature.intact]
        if r.signature.intact:
            sig += f", {trusted.get(r.signature.trusted, '?')}"
            if r.signature.revocation is not None:  # issue 16: CRL/OCSP of the signer
                sig += f", revocation {r.signature.revocation.status}"
            if r.signature.trusted is False and r.signature.reason:
                sig += f": {escape(r.signature.reason)}"
    console.print(
        f"{state} {escape(file)}: {r.format or 'unknown format'} ({r.container}{sig}), "
        f"{n} invoice(s)"
    )
    for e in r.schema_errors[:10]:
        where = f"line {e.line}: " if e.line else ""
        console.print(f"    schema: {where}{_short(e.message)}", markup=False)
    if len(r.schema_errors) > 10:
        console.print(f"    schema: … {len(r.schema_errors) - 10} more")
    for c in r.checks:
        where = f" (line {c.line})" if c.line else ""
        console.print(f"    {c.code}{where}: {_short(c.message)}", markup=False)
    for w in r.warnings:
        console.print(f"    warning: {_short(str(w))}", markup=False)


@invoice_app.command("validate")
def validate(
    paths: Annotated[list[str], typer.Argument(
        metavar="FILE|DIR...", show_default=False,
        help="Invoice files (.xml, .xml.p7m), folders (searched with their subfolders), "
             "or - (stdin).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file per line on stdout.")
    ] = False,
    lenient: Annotated[
        bool,
        typer.Option("--lenient", help="Repair small problems (blanks, encoding, namespace) "
                     "and report them as warnings, as an import would."),
    ] = False,
    trust: TrustOpt = None,
    revocation: Annotated[
        str | None,
        typer.Option("--revocation", metavar="POLICY",
                     help="CRL/OCSP check of the signer: hard-fail, soft-fail or off "
                          "(default: [trust] revocation_invoices of the config, soft-fail)."),
    ] = None,
) -> None:
    """Validate invoice files: XSD, SdI checks, signature. Exit 0 valid, 1 invalid, 2 unreadable."""
    from wpec_invoicing.fatturapa.summary import report_text
    from wpec_invoicing.trust import cli_trust

    store = cli_trust(_load_trust(trust), policy=revocation)
    console = None if as_json else _console()
    seen = unreadable = invalid = 0
    write = sys.stdout.write
    for path in walk(paths, INVOICE_SUFFIXES):
        data, error = _load(path)
        report = _judge(path, data, error, lenient=lenient, trust=store, as_given=False)
        seen += 1
        if not report.readable:
            unreadable += 1
            output.error(f"{path}: {report.error}")  # as `pec inspect` says it
        elif not report.valid:
            invalid += 1
        if as_json:
            # `report.to_json()` with "file" the path as given (check 00001 judged the bare
            # name), as json.dumps writes it: one line, one write
            write(report_text(report, path) + "\n")
        else:
            _human(console, report, path)
        del report, data  # streamed: nothing of a file outlives its line
    sys.stdout.flush()
    if not seen:
        raise InputError(f"no invoice files (.xml, .p7m) in {', '.join(paths)}")
    raise typer.Exit(_exit_code(unreadable, invalid))


def _money(v) -> str:
    return "" if v is None else f"{v:f}"


@invoice_app.command("show")
def show(
    path: Annotated[str, typer.Argument(metavar="FILE", show_default=False,
                                        help="Invoice file (.xml, .xml.p7m), or - (stdin).")],
    trust: TrustOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a readable summary of an invoice file (read leniently; validity shown too)."""
    from rich.markup import escape
    from rich.table import Table

    from wpec_invoicing.trust import cli_trust

    store = cli_trust(_load_trust(trust))
    data, error = _load(path)  # read once, judged twice
    r = _judge(path, data, error, lenient=True, trust=store)
    if not r.readable or r.document is None:
        output.fail(f"cannot read {path}: {r.error or 'no invoice in it'}", EXIT_UNREADABLE,
                    as_json=as_json)
        raise typer.Exit(EXIT_UNREADABLE)
    strict = _judge(path, data, None, lenient=False, trust=store)
    if as_json:
        data = r.to_json()
        for key in ("valid", "schema_valid", "schema_errors", "checks"):
            data[key] = strict.to_json()[key]
        data["repairs"] = data.pop("warnings")
        output.dump_json(data)
        raise typer.Exit(EXIT_VALID if strict.valid else EXIT_INVALID)
    console = _console()
    doc = r.document
    console.print(f"[bold]{escape(str(path))}[/]  {doc.format}  container {r.container}")
    if r.signature is not None:
        s = r.signature
        console.print(
            f"signature: {({True: 'intact', False: 'NOT intact'}).get(s.intact, 'not verified')}, "
            f"signer {s.signer}, "
            f"signed {s.signing_time.isoformat() if s.signing_time else '?'}, "
            + {True: "trusted", False: "NOT trusted"}.get(
                s.trusted, "trust not checked" + (" (no --trust)" if store is None else "")
            )
            + (f" ({s.reason})" if s.reason else "")
            + (f", revocation {s.revocation.status}" if s.revocation else "")
            + (", qualified certificate" if s.qualified else ""),
            markup=False,
        )
    t = doc.transmission
    console.print(
        f"transmission: {t.sender}, progressivo {t.progressivo}, CodiceDestinatario "
        f"{t.codice_destinatario}" + (f", PEC {t.pec_destinatario}" if t.pec_destinatario else ""),
        markup=False,
    )
    for label, p in (("supplier", doc.supplier), ("customer", doc.customer)):
        ids = ", ".join(x for x in (str(p.vat) if p.vat else None, p.fiscal_code) if x)
        addr = ""
        if p.address:
            a = p.address
            addr = f" — {a.street} {a.number or ''}, {a.postal_code} {a.city} ({a.country})"
        console.print(f"{label}: {p.name} [{ids}]{addr}", markup=False)
    for i, b in enumerate(doc.bodies, start=1):
        total = b.total if b.total is not None else b.computed_total()
        console.print(f"\n[bold]invoice {i}[/]: ", end="")
        console.print(
            f"{b.document_type} n. {b.number} of "
            f"{b.date.isoformat() if b.date else '?'}, total {_money(total)} {b.currency}",
            markup=False,
        )
        lines = Table("#", "description", "qty", "unit price", "total", "VAT %", "natura")
        for ln in b.lines[:50]:
            lines.add_row(
                str(ln.number), escape(ln.description[:60]), _money(ln.quantity),
                _money(ln.unit_price), _money(ln.total_price), _money(ln.vat_rate),
                escape(ln.natura or ""),
            )
        console.print(lines)
        if len(b.lines) > 50:
            console.print(f"… and {len(b.lines) - 50} more lines")
        for s in b.vat_summary:
            console.print(
                f"  VAT {_money(s.rate)}% {s.natura or ''}: taxable {_money(s.taxable)}, "
                f"tax {_money(s.tax)}",
                markup=False,
            )
        for w in b.withholdings:
            console.print(f"  withholding {w.kind}: {_money(w.amount)} ({_money(w.rate)}%)",
                          markup=False)
        for pf in b.pension_funds:
            console.print(f"  pension fund {pf.kind}: {_money(pf.amount)}", markup=False)
        if b.stamp_duty is not None:
            console.print(f"  stamp duty: {_money(b.stamp_duty.amount) or 'yes'}")
        for p in b.payments:
            for d in p.details:
                due = d.due_date.isoformat() if d.due_date else "-"
                console.print(
                    f"  payment {p.conditions}/{d.method}: {_money(d.amount)} due {due}"
                    + (f" IBAN {d.iban}" if d.iban else ""),
                    markup=False,
                )
        for ld in b.linked_documents:
            console.print(f"  {ld.kind}: {ld.id} {ld.date or ''}", markup=False)
        for a in b.attachments:
            console.print(f"  attachment: {a.name} ({len(a.data)} bytes)", markup=False)
    console.print("")
    _human(console, strict)


_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(10)),
             *(f"LPT{i}" for i in range(10))}


def safe_file_name(name: str, fallback: str) -> str:
    """A name that cannot escape the folder or surprise a shell: last path component only,
    [A-Za-z0-9._ -], no leading dot or dash, at most 120 characters."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = _UNSAFE.sub("_", base).strip(" .-_")
    if not base or base.split(".")[0].upper() in _RESERVED:
        base = fallback + ("_" + base if base else "")
    if len(base) > 120:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 120 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else base[:120]
    return base


@invoice_app.command("attachments")
def attachments(
    path: Annotated[str, typer.Argument(metavar="FILE", show_default=False,
                                        help="Invoice file (.xml, .xml.p7m).")],
    out: Annotated[str, typer.Option("--out", "-o", metavar="DIR",
                                     help="Folder to write into (created if needed).")] = ".",
    as_json: JsonOpt = False,
) -> None:
    """Extract the embedded attachments (Allegati), with safe file names, never overwriting."""
    from pathlib import Path

    r = _read_path(path, lenient=True, trust=None)
    if not r.readable or r.document is None:
        output.fail(f"cannot read {path}: {r.error or 'no invoice in it'}", EXIT_UNREADABLE,
                    as_json=as_json)
        raise typer.Exit(EXIT_UNREADABLE)
    items = [a for b in r.document.bodies for a in b.attachments]
    written: list[dict[str, Any]] = []
    if items:
        folder = Path(out)
        if folder.exists() and not folder.is_dir():
            raise InputError(f"--out {out}: exists and is not a folder")
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"--out {out}: cannot create the folder: "
                             f"{exc.strerror or exc}") from None
        root = folder.resolve()
    for n, a in enumerate(items, start=1):
        name = safe_file_name(a.name, f"attachment-{n}")
        stem, dot, ext = name.rpartition(".")
        candidate, k = name, 1
        while True:
            target = (root / candidate).resolve()
            if target.parent != root:  # cannot happen with safe names; belt and braces
                raise InputError(f"refusing attachment name {a.name!r}")
            try:
                with open(target, "xb") as fh:
                    fh.write(a.data)
                break
            except FileExistsError:
                k += 1
                candidate = f"{stem}-{k}.{ext}" if dot else f"{name}-{k}"
            except OSError as exc:
                raise InputError(f"cannot write {target}: {exc.strerror or exc}") from exc
        written.append({"name": a.name, "file": str(target), "bytes": len(a.data)})
        if not as_json:
            output.report(f"{target}  ({len(a.data)} bytes)")
    if as_json:
        output.dump_json({"file": path, "attachments": written})
    elif not items:
        output.report(f"{path}: no attachments")
