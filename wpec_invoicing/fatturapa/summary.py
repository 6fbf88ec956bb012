"""The JSON shape of invoices and signatures (the `wpec invoice validate --json` contract).

Money and rates are strings ("122.00"), never floats: JSON consumers must not round them.
"""

from __future__ import annotations

from decimal import Decimal

from wpec_invoicing.fatturapa.model import Body, InvoiceDocument, Party


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
        ],
        "attachments": [{"name": a.name, "size": len(a.data)} for a in b.attachments],
    }


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
