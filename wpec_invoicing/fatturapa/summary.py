"""The JSON shape of invoices and signatures (the `wpec invoice validate --json` contract).

Money and rates are strings ("122.00"), never floats: JSON consumers must not round them.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from json.encoder import encode_basestring

from wpec_invoicing.fatturapa.model import Body, InvoiceDocument, Party

ZERO = Decimal("0")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")


def _s(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def party_json(p: Party) -> dict:
    return {
        "vat": str(p.vat) if p.vat else None,
        "fiscal_code": p.fiscal_code,
        "name": p.name or None,
    }


def body_json(doc: InvoiceDocument, b: Body) -> dict:
    total = b.total if b.total is not None else b.computed_total()
    return {
        "supplier": party_json(doc.supplier),
        "customer": party_json(doc.customer),
        "document_type": b.document_type,
        "number": b.number,
        "date": b.date.isoformat() if b.date else None,
        "currency": b.currency,
        "total": _s(total),
        "lines": len(b.lines),
        "vat_summary": [
            {"rate": _s(s.rate), "nature": s.natura, "taxable": _s(s.taxable), "tax": _s(s.tax)}
            for s in b.vat_summary
        ] if b.vat_summary or not doc.simplified else simplified_vat_summary(b),
        "attachments": [{"name": a.name, "size": len(a.data)} for a in b.attachments],
    }


def simplified_vat_summary(b: Body) -> list[dict]:
    """FSM10 has no DatiRiepilogo: derive one per (rate, Natura) from the lines, so accounting
    software gets the same summary for simplified invoices.

    An FSM10 Importo includes the VAT. Imposta is taken as stated; when a line gives only the
    Aliquota, its tax is the VAT inside the amount, Importo × rate / (100 + rate), to the cent;
    with neither (a Natura line) the tax is 0. Taxable = Importo − tax. `rate` is null when a
    line states only its Imposta (the rate is not in the file)."""
    groups: dict[tuple[Decimal | None, str | None], list[Decimal]] = {}
    for ln in b.lines:
        amount = ln.total_price if ln.total_price is not None else ZERO
        if ln.vat_amount is not None:
            tax = ln.vat_amount
        elif ln.vat_rate is not None:
            tax = (amount * ln.vat_rate / (HUNDRED + ln.vat_rate)).quantize(
                CENT, rounding=ROUND_HALF_UP
            )
        else:
            tax = ZERO
        sums = groups.setdefault((ln.vat_rate, ln.natura), [ZERO, ZERO])
        sums[0] += amount - tax
        sums[1] += tax
    return [
        {"rate": _s(rate), "nature": natura, "taxable": _s(taxable.quantize(CENT)),
         "tax": _s(tax.quantize(CENT))}
        for (rate, natura), (taxable, tax) in groups.items()
    ]


def invoices_json(doc: InvoiceDocument | None) -> list[dict]:
    if doc is None:
        return []
    return [body_json(doc, b) for b in doc.bodies]


def signature_json(sig) -> dict | None:
    """`{intact, signer, signing_time, ...}` or None for a plain XML file."""
    if sig is None:
        return None
    to_json = getattr(sig, "to_json", None)
    if callable(to_json):
        return to_json()
    st = getattr(sig, "signing_time", None)
    return {
        "present": getattr(sig, "present", True),
        "intact": getattr(sig, "intact", None),
        "signer": getattr(sig, "signer", None),
        "signing_time": st.isoformat() if st else None,
        "trusted": getattr(sig, "trusted", None),
        "reason": getattr(sig, "reason", None),
    }


# ---------------------------------------------------------------- the JSON line, written directly
#
# `wpec invoice validate --json` prints one line per file: `json.dumps(report.to_json(),
# ensure_ascii=False)` with "file" set to the path as given. Building those dicts and running
# the encoder over them cost about as much as the XSD validation of a small invoice, so the
# line is written here straight from the report, with json's own string escaping: the same
# text, character for character (a property test holds the two together). Anything off the
# common shape (a signature, schema errors, failed checks) goes through json's encoder.

_dumps = json.JSONEncoder(ensure_ascii=False).encode  # what json.dumps(x, ensure_ascii=False) runs
_q = encode_basestring  # json's escaping of a str (the C one where there is one)


def _qs(value: str | None) -> str:
    return "null" if value is None else _q(value)


def _qd(value: Decimal | None) -> str:
    """`_s` quoted. `str()` writes the same digits as the "f" format unless it switches to
    exponent notation (1E+2, 1E-7), and costs a third of it."""
    if value is None:
        return "null"
    text = str(value)
    return f'"{text}"' if "E" not in text else f'"{value:f}"'


def _party_text(p: Party) -> str:
    vat = p.vat
    return (f'{{"vat": {_q(str(vat)) if vat else "null"}, '
            f'"fiscal_code": {_qs(p.fiscal_code)}, "name": {_q(p.name) if p.name else "null"}}}')


def _list_text(items: list[str]) -> str:
    return f"[{', '.join(items)}]"


def _body_text(doc: InvoiceDocument, b: Body, supplier: str, customer: str) -> str:
    total = b.total if b.total is not None else b.computed_total()
    if b.vat_summary or not doc.simplified:
        summary = _list_text([
            f'{{"rate": {_qd(s.rate)}, "nature": {_qs(s.natura)}, "taxable": {_qd(s.taxable)}, '
            f'"tax": {_qd(s.tax)}}}'
            for s in b.vat_summary
        ])
    else:
        summary = _dumps(simplified_vat_summary(b))
    day = b.date
    return (
        f'{{"supplier": {supplier}, "customer": {customer}, '
        f'"document_type": {_q(b.document_type)}, "number": {_q(b.number)}, '
        f'"date": {_q(day.isoformat()) if day else "null"}, "currency": {_q(b.currency)}, '
        f'"total": {_qd(total)}, "lines": {len(b.lines)}, "vat_summary": {summary}, '
        f'"attachments": '
        + _list_text([f'{{"name": {_q(a.name)}, "size": {len(a.data)}}}' for a in b.attachments])
        + "}"
    )


def invoices_text(doc: InvoiceDocument | None) -> str:
    """`json.dumps(invoices_json(doc), ensure_ascii=False)`, written directly."""
    if doc is None:
        return "[]"
    supplier, customer = _party_text(doc.supplier), _party_text(doc.customer)
    return _list_text([_body_text(doc, b, supplier, customer) for b in doc.bodies])


def _items_text(items: tuple) -> str:
    return "[]" if not items else _dumps([item.to_json() for item in items])


def report_text(report, file: str | None) -> str:
    """`json.dumps(record, ensure_ascii=False)` where `record` is `report.to_json()` with
    "file" set to `file`: the same text, written without building the record."""
    signature = report.signature
    warnings = report.warnings
    return (
        f'{{"file": {_qs(file)}, "valid": {"true" if report.valid else "false"}, '
        f'"readable": {"true" if report.readable else "false"}, '
        f'"format": {_qs(report.format)}, "container": {_qs(report.container)}, '
        f'"signature": {"null" if signature is None else _dumps(signature_json(signature))}, '
        f'"schema_valid": {"true" if report.schema_valid else "false"}, '
        f'"schema_errors": {_items_text(report.schema_errors)}, '
        f'"checks": {_items_text(report.checks)}, '
        f'"warnings": {_dumps(list(warnings)) if warnings else "[]"}, '
        f'"error": {_qs(report.error)}, "invoices": {invoices_text(report.document)}}}'
    )
