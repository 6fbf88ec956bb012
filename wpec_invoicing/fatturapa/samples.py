"""Realistic, valid example documents (tests, demo data, the sandbox's supplier generator).

Every sample passes the XSD and every SdI check of `checks.py`; VAT numbers and fiscal codes
carry correct check digits (note: the often-used `01234567890` does NOT, its check digit is 7).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from wpec_invoicing.fatturapa.model import (
    Address,
    Body,
    InvoiceDocument,
    Line,
    Party,
    Payment,
    PaymentDetail,
    Transmission,
    VatId,
)
from wpec_invoicing.fatturapa.writer import line_total, summarize_vat

SUPPLIER = Party(
    vat=VatId("IT", "01234567897"),
    fiscal_code="01234567897",
    company_name="Fornitore Demo S.r.l.",
    address=Address("Via Roma", "00100", "Roma", "IT", number="1", province="RM"),
    regime_fiscale="RF01",
)
CUSTOMER = Party(
    vat=VatId("IT", "12345678903"),
    company_name="Cliente Demo S.p.A.",
    address=Address("Corso Italia", "20122", "Milano", "IT", number="10", province="MI"),
)
PERSON = Party(
    fiscal_code="RSSMRA85T10A562S",
    first_name="Mario",
    last_name="Rossi",
    address=Address("Via Garibaldi", "10121", "Torino", "IT", number="5", province="TO"),
)


def sample_lines(count: int = 1, *, rate: Decimal = Decimal("22.00")) -> tuple[Line, ...]:
    lines = []
    for i in range(1, count + 1):
        qty = Decimal(i % 7 + 1)
        price = Decimal("10.50") + Decimal(i)
        lines.append(
            Line(
                number=i,
                description=f"Servizio di consulenza, voce {i}",
                quantity=Decimal(f"{qty}.00"),
                unit="ore",
                unit_price=price,
                total_price=line_total(price, qty),
                vat_rate=rate,
            )
        )
    return tuple(lines)


def sample_body(
    *,
    number: str = "2026/1",
    on: date = date(2026, 1, 15),
    lines: int = 1,
    document_type: str = "TD01",
) -> Body:
    ls = sample_lines(lines)
    summary = summarize_vat(ls)
    total = sum((s.taxable + s.tax for s in summary), Decimal("0"))
    return Body(
        document_type=document_type,
        currency="EUR",
        date=on,
        number=number,
        lines=ls,
        vat_summary=summary,
        total=total,
        causale=("Prestazioni professionali",),
        payments=(
            Payment(
                "TP02",
                (
                    PaymentDetail(
                        method="MP05",
                        amount=total,
                        due_date=date(on.year, on.month, 28),
                        iban="IT60X0542811101000000123456",
                    ),
                ),
            ),
        ),
    )


def sample_invoice(
    *,
    format: str = "FPR12",
    lines: int = 1,
    bodies: int = 1,
    progressivo: str = "00001",
    supplier: Party = SUPPLIER,
    customer: Party = CUSTOMER,
    codice_destinatario: str | None = None,
    pec_destinatario: str | None = None,
    on: date = date(2026, 1, 15),
) -> InvoiceDocument:
    """A valid FPR12/FPA12 invoice (or a lotto of `bodies` invoices) or FSM10 one."""
    if format == "FSM10":
        return sample_simplified(progressivo=progressivo, supplier=supplier, on=on)
    if codice_destinatario is None:
        codice_destinatario = "UFABCD" if format == "FPA12" else "0000000"
    return InvoiceDocument(
        format=format,
        transmission=Transmission(
            sender=supplier.vat or VatId("IT", supplier.fiscal_code or ""),
            progressivo=progressivo,
            codice_destinatario=codice_destinatario,
            formato=format,
            pec_destinatario=pec_destinatario,
        ),
        supplier=supplier,
        customer=customer,
        bodies=tuple(
            sample_body(number=f"2026/{i}", on=on, lines=lines) for i in range(1, bodies + 1)
        ),
    )


def sample_simplified(
    *, progressivo: str = "00001", supplier: Party = SUPPLIER, on: date = date(2026, 1, 15)
) -> InvoiceDocument:
    """A valid FSM10 simplified invoice (TD07) to a private person."""
    return InvoiceDocument(
        format="FSM10",
        transmission=Transmission(
            sender=supplier.vat or VatId("IT", supplier.fiscal_code or ""),
            progressivo=progressivo,
            codice_destinatario="0000000",
            formato="FSM10",
        ),
        supplier=supplier,
        customer=PERSON,
        bodies=(
            Body(
                document_type="TD07",
                currency="EUR",
                date=on,
                number="S-1",
                lines=(
                    Line(
                        number=1,
                        description="Riparazione bicicletta",
                        total_price=Decimal("61.00"),
                        vat_rate=Decimal("22.00"),
                        vat_amount=Decimal("11.00"),
                    ),
                ),
            ),
        ),
    )
