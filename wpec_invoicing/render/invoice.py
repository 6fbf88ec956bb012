"""An invoice as a readable HTML document: the model of `fatturapa.read_invoice`, rendered.

Why from the model and not from the XML: the reader already survives real-world files
(p7m, broken encodings, vendor elements) and knows what is wrong with them; the renderer only
presents. What is wrong is shown too, in a band at the top, because a readable copy of an
invalid invoice that looks valid would mislead whoever files it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from wpec_invoicing.fatturapa import CHECKS_BY_CODE, InvoiceReport
from wpec_invoicing.fatturapa.model import Body
from wpec_invoicing.render.templates import environment, stylesheet

ZERO = Decimal("0")


@dataclass(frozen=True)
class Totals:
    """What the totals box shows for one body (None: not shown)."""

    taxable: Decimal | None
    tax: Decimal | None
    total: Decimal
    due: Decimal | None


def body_totals(body: Body) -> Totals:
    """Taxable and tax from the VAT summary (FSM10: from the lines), the document total as
    written (else as recomputed) and, when something is withheld, the net amount due.

    A leniently read invoice may miss any amount (None): it is left out of the sums rather
    than stopping the render, since the band above already says what is wrong."""
    if body.vat_summary:
        taxable: Decimal | None = _total(s.taxable for s in body.vat_summary)
        tax: Decimal | None = _total(s.tax for s in body.vat_summary)
        computed = (taxable or ZERO) + (tax or ZERO) + (body.rounding or ZERO)
    else:
        taxable = None
        tax = _total(ln.vat_amount for ln in body.lines)
        computed = _total(ln.total_price for ln in body.lines) or ZERO
    total = body.total if body.total is not None else computed
    withheld = _total(w.amount for w in body.withholdings) or ZERO
    due = total - withheld if body.withholdings else None
    return Totals(taxable, tax, total, due)


def _total(amounts: Iterable[Decimal | None]) -> Decimal | None:
    """The sum of the amounts that are there; None when none is."""
    present = [a for a in amounts if a is not None]
    return sum(present, ZERO) if present else None


def _where(line: int | None) -> str:
    return f" (riga {line})" if line else ""


def problems(report: InvoiceReport) -> list[str]:
    """What is wrong with the file, one line each, for the band at the top of the page."""
    out: list[str] = []
    for err in report.schema_errors:
        out.append(f"Schema XSD{_where(err.line)}: {err.message}")
    seen_schema = bool(report.schema_errors)
    for check in report.checks:
        if check.code == "00200" and seen_schema:
            continue
        known = CHECKS_BY_CODE.get(check.code)
        title = f"{check.code} {known.description}" if known else check.code
        out.append(f"Controllo SdI {title}{_where(check.line)}: {check.message}")
    sig = report.signature
    if sig is not None and sig.present and sig.intact is False:
        out.append(f"Firma digitale NON integra: {sig.reason or 'motivo non indicato'}")
    if report.lenient or not report.valid:
        out.extend(f"Avviso di lettura: {w}" for w in report.warnings)
    return out


def signature_text(report: InvoiceReport) -> str | None:
    """One sentence on the file's own signature (p7m or XAdES), or None when unsigned."""
    sig = report.signature
    if sig is None or not sig.present:
        return None
    intact = {True: "integra", False: "NON integra", None: "non verificata"}[sig.intact]
    trusted = {True: "firmatario attendibile", False: "firmatario NON attendibile",
               None: "attendibilità non verificata"}[sig.trusted]
    who = f" di {sig.signer}" if sig.signer else ""
    return f"firmata{who}, {intact}, {trusted}"


def invoice_context(report: InvoiceReport, *, file_name: str | None = None,
                    embedded: bool = False) -> dict[str, Any]:
    """The template values of `invoice_content.html.j2` for one readable invoice.

    Raises ValueError for a report without a document: the caller reports that as the usual
    one-line "unreadable" error."""
    doc = report.document
    if doc is None:
        raise ValueError(report.error or "no invoice could be read from the file")
    name = file_name or report.file_name
    return {
        "doc": doc,
        "file_name": name.replace("\\", "/").rsplit("/", 1)[-1] if name else None,
        "problems": problems(report),
        "valid": report.valid,
        "readable_model": True,
        "totals": [body_totals(b) for b in doc.bodies],
        "signature": signature_text(report),
        "embedded": embedded,
    }


def invoice_title(report: InvoiceReport) -> str:
    """`Fornitore S.r.l. – fattura n. 12 del 2026-03-31`: the PDF's title."""
    doc = report.document
    if doc is None:
        return "fattura"
    first = doc.bodies[0] if doc.bodies else None
    if first is None:
        return f"{doc.supplier.name} – fattura"
    # A leniently read invoice may lack its number or date: the title says what it has.
    title = f"{doc.supplier.name} – fattura"
    if first.number:
        title += f" n. {first.number}"
    if first.date is not None:
        title += f" del {first.date.isoformat()}"
    return title


def invoice_html(report: InvoiceReport, *, file_name: str | None = None,
                 embedded: bool = False) -> str:
    """The HTML page of a readable invoice (`report.document` is not None).

    `embedded` says the PDF made from this page carries the original file (the footer says
    so)."""
    context = invoice_context(report, file_name=file_name, embedded=embedded)
    return environment().get_template("invoice.html.j2").render(
        title=invoice_title(report), css=stylesheet(), **context)
