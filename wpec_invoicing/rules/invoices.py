"""Passive invoices in the store: listing and presenting them (verification lives in verify.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wpec_invoicing.store.models import ReceivedInvoice

STATUSES = ("verified", "needs-review", "refused")


def list_invoices(session: Session, *, status: str | None = None,
                  since=None) -> list[ReceivedInvoice]:
    from wpec_invoicing.errors import InputError

    query = select(ReceivedInvoice).order_by(ReceivedInvoice.id)
    if status is not None:
        if status not in STATUSES:
            raise InputError(f"unknown status {status!r} (use one of: {', '.join(STATUSES)})")
        query = query.where(ReceivedInvoice.status == status)
    if since is not None:
        query = query.where(ReceivedInvoice.invoice_date >= since)
    return list(session.scalars(query))


def _dec(value) -> str | None:
    """Decimal as text without storage padding: 2.00000000 → 2.00, 11.50000000 → 11.50,
    1.23456000 → 1.23456 (at least two decimals, never fewer than the value has)."""
    if value is None:
        return None
    from decimal import Decimal

    value = Decimal(value)
    normal = value.normalize()
    if normal.as_tuple().exponent > -2:
        normal = value.quantize(Decimal("0.01"))
    return f"{normal:f}"


def invoice_summary(inv: ReceivedInvoice) -> dict[str, Any]:
    return {
        "id": inv.id,
        "status": inv.status,
        "reasons": inv.reasons or [],
        "file_name": inv.file_name,
        "file_sha256": inv.file_sha256,
        "source": inv.source,
        "identificativo_sdi": inv.identificativo_sdi,
        "supplier_vat": inv.supplier_vat,
        "supplier_fiscal_code": inv.supplier_fiscal_code,
        "supplier_name": inv.supplier_name,
        "customer_vat": inv.customer_vat,
        "customer_fiscal_code": inv.customer_fiscal_code,
        "document_type": inv.document_type,
        "number": inv.number,
        "date": inv.invoice_date.isoformat() if inv.invoice_date else None,
        "currency": inv.currency,
        "total": _dec(inv.total),
        "taxable": _dec(inv.taxable),
        "tax": _dec(inv.tax),
        "valid": inv.valid,
        "received_at": inv.received_at.isoformat() if inv.received_at else None,
    }


def invoice_detail(inv: ReceivedInvoice) -> dict[str, Any]:
    data = invoice_summary(inv)
    data.update(
        {
            "size": inv.size,
            "version": inv.version,
            "bodies": inv.bodies,
            "message_id": inv.message_id,
            "source_path": inv.source_path,
            "metadata_file_name": inv.metadata_file_name,
            "duplicate_of": inv.duplicate_of,
            "customer_name": inv.customer_name,
            "signature": inv.signature,
            "envelope_signature": inv.envelope_signature,
            "checks": (inv.report or {}).get("checks", []) if isinstance(inv.report, dict)
            else [],
            "lines": [
                {
                    "body": line.body_index,
                    "number": line.line_number,
                    "description": line.description,
                    "quantity": _dec(line.quantity),
                    "unit_price": _dec(line.unit_price),
                    "total": _dec(line.total),
                    "vat_rate": _dec(line.vat_rate),
                    "natura": line.natura,
                }
                for line in inv.lines
            ],
        }
    )
    return data
