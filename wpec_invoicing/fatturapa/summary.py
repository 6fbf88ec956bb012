"""The JSON shape of invoices and signatures (the `wpec invoice validate --json` contract).

Money and rates are strings ("122.00"), never floats: JSON consumers must not round them.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

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
