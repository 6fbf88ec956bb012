"""`wpec invoice validate | show | attachments`: the FatturaPA engine on the command line.

Contract of `validate` (other tools rely on it): exit 0 when every file is valid, 1 when any
is invalid, 2 when any cannot be read at all; with `--json`, one JSON object per input file
per line on stdout (see `InvoiceReport.to_json`). Human output goes through rich.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from wpec_invoicing.cli.groups import invoice_app
from wpec_invoicing.errors import InputError
from wpec_invoicing.fatturapa import InvoiceReport, read_invoice

MAX_FILE_BYTES = 50 * 1024 * 1024
EXIT_VALID, EXIT_INVALID, EXIT_UNREADABLE = 0, 1, 2


def register(app: typer.Typer) -> None:
    """This module adds commands to the `invoice` group only."""


def _console() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _load_trust(path: Path | None):
    if path is None:
        return None
    from wpec_invoicing.cms import TrustStore
    from wpec_invoicing.inputs import read_file

    try:
        data = read_file(path, max_bytes=MAX_FILE_BYTES)
    except OSError as exc:
        raise InputError(f"cannot read trust store {path}: {exc.strerror or exc}") from exc
    try:
        return TrustStore.from_pem(data)
    except ValueError as exc:
        raise InputError(f"trust store {path} holds no usable certificate: {exc}") from exc


def _expand(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for the invoice files (.xml, .p7m) directly inside it."""
    out: list[Path] = []
    for p in paths:
        if str(p) != "-" and p.is_dir():
            try:
                out.extend(
                    sorted(
                        c for c in p.iterdir()
                        if c.is_file() and not c.name.startswith(".")
                        and c.suffix.lower() in (".xml", ".p7m")
                    )
                )
            except OSError:
                out.append(p)  # reported as unreadable, with the reason
        else:
            out.append(p)
    return out


def _read_path(path: Path, *, lenient: bool, trust) -> InvoiceReport:
    if str(path) == "-":  # standard input: no file name, so no 00001
        data = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            return InvoiceReport(file_name="-", error="input too large")
        return _with_file(read_invoice(data, lenient=lenient, trust=trust), "-")
    from wpec_invoicing.inputs import read_file

    try:
        data = read_file(path, max_bytes=MAX_FILE_BYTES)
    except OSError as exc:
        return InvoiceReport(file_name=str(path), error=exc.strerror or str(exc))
    report = read_invoice(data, file_name=path.name, lenient=lenient, trust=trust)
    # report the path as given, the check 00001 used the bare name
    return _with_file(report, str(path))


def _with_file(report: InvoiceReport, file: str) -> InvoiceReport:
    from dataclasses import replace

    return replace(report, file_name=file)


def _exit_code(reports: list[InvoiceReport]) -> int:
    if any(not r.readable for r in reports):
        return EXIT_UNREADABLE
    if any(not r.valid for r in reports):
        return EXIT_INVALID
    return EXIT_VALID


def _short(text: str, limit: int = 300) -> str:
    """A message quoting a 2 MB <Descrizione> must not flood the terminal (JSON keeps it)."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _human(console: Console, r: InvoiceReport) -> None:
    if not r.readable:
        console.print(f"[red]UNREADABLE[/] {escape(r.file_name)}: {escape(r.error or '')}")
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
        f"{state} {escape(r.file_name)}: {r.format or 'unknown format'} ({r.container}{sig}), "
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
    paths: Annotated[
        list[Path], typer.Argument(help="Invoice files (.xml, .xml.p7m), folders, or - (stdin).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per file per line on stdout.")
    ] = False,
    lenient: Annotated[
        bool,
        typer.Option("--lenient", help="Repair small problems (blanks, encoding, namespace) "
                     "and report them as warnings, as an import would."),
    ] = False,
    trust: Annotated[
        Path | None,
        typer.Option("--trust", help="PEM file of CAs to judge signers by (p7m, XAdES)."),
    ] = None,
    revocation: Annotated[
        str | None,
        typer.Option("--revocation", metavar="POLICY",
                     help="CRL/OCSP check of the signer: hard-fail, soft-fail or off "
                          "(default: [trust] revocation_invoices of the config, soft-fail)."),
    ] = None,
) -> None:
    """Validate invoice files: XSD, SdI checks, signature. Exit 0 valid, 1 invalid, 2 unreadable."""
    from wpec_invoicing.trust import cli_trust

    store = cli_trust(_load_trust(trust), policy=revocation)
    console = _console()
    reports = []
    for path in _expand(paths):
        report = _read_path(path, lenient=lenient, trust=store)
        reports.append(report)
        if as_json:
            sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        else:
            _human(console, report)
    if not reports:
        raise InputError("no files to validate (empty folder?)")
    raise typer.Exit(_exit_code(reports))


def _money(v) -> str:
    return "" if v is None else f"{v:f}"


@invoice_app.command("show")
def show(
    path: Annotated[Path, typer.Argument(help="Invoice file (.xml, .xml.p7m).")],
    trust: Annotated[
        Path | None, typer.Option("--trust", help="PEM file of CA certificates.")
    ] = None,
) -> None:
    """Print a readable summary of an invoice file (read leniently; validity shown too)."""
    from wpec_invoicing.trust import cli_trust

    store = cli_trust(_load_trust(trust))
    r = _read_path(path, lenient=True, trust=store)
    console = _console()
    if not r.readable or r.document is None:
        console.print(f"[red]cannot read {escape(str(path))}[/]: {escape(r.error or '')}")
        raise typer.Exit(EXIT_UNREADABLE)
    doc = r.document
    strict = _read_path(path, lenient=False, trust=store)
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
    path: Annotated[Path, typer.Argument(help="Invoice file (.xml, .xml.p7m).")],
    out: Annotated[Path, typer.Option("-o", "--output", help="Folder to write into.")] = Path("."),
) -> None:
    """Extract the embedded attachments (Allegati), with safe file names, never overwriting."""
    r = _read_path(path, lenient=True, trust=None)
    console = _console()
    if not r.readable or r.document is None:
        console.print(f"[red]cannot read {escape(str(path))}[/]: {escape(r.error or '')}")
        raise typer.Exit(EXIT_UNREADABLE)
    items = [a for b in r.document.bodies for a in b.attachments]
    if not items:
        console.print(f"{path}: no attachments", markup=False)
        raise typer.Exit(EXIT_VALID)
    if out.exists() and not out.is_dir():
        raise InputError(f"--output {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--output {out}: cannot create the folder: "
                         f"{exc.strerror or exc}") from None
    root = out.resolve()
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
        console.print(f"{target}  ({len(a.data)} bytes)", markup=False)
