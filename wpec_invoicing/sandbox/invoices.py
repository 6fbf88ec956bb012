"""A generator of realistic supplier invoices, valid and deliberately invalid, for the sandbox.

Why: the passive cycle (and SdI's checks on the active one) must be exercised with the
invoices users really get: several suppliers, several lines and VAT rates, lotti, signed
`.xml.p7m`, and the defects that happen in real life. Everything is built with the FatturaPA
engine's model and writer; defects are introduced in the model (wrong totals, Natura missing,
a bad VAT number, an addressee that is not us) or in the bytes (broken XML, a tampered
signature, a bad file name). Deterministic for a given `seed`.

    for inv in generate_batch(10, seed=1, invalid_ratio=0.3): ... inv.file_name, inv.data
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from wpec_invoicing.fatturapa import (
    Address,
    Body,
    InvoiceDocument,
    Line,
    Party,
    Payment,
    PaymentDetail,
    Transmission,
    VatId,
    VatSummary,
    invoice_file_name,
    line_total,
    summarize_vat,
    write_invoice,
)
from wpec_invoicing.fatturapa.identifiers import make_partita_iva as valid_partita_iva


def _supplier(first10: str, name: str, street: str, cap: str, city: str, prov: str) -> Party:
    piva = valid_partita_iva(first10)
    return Party(vat=VatId("IT", piva), fiscal_code=piva, company_name=name,
                 address=Address(street, cap, city, "IT", number="1", province=prov),
                 regime_fiscale="RF01")


# The company of the sandbox (customer of every supplier invoice): matches `Sandbox.COMPANY`.
COMPANY_PARTY = Party(
    vat=VatId("IT", "01234567897"), fiscal_code="01234567897",
    company_name="Azienda Demo S.r.l.",
    address=Address("Via Roma", "00100", "Roma", "IT", number="1", province="RM"),
)
OTHER_CUSTOMER = Party(
    vat=VatId("IT", valid_partita_iva("0987654321")), company_name="Altra Azienda S.p.A.",
    address=Address("Via Torino", "10121", "Torino", "IT", number="3", province="TO"),
)
SUPPLIERS = (
    _supplier("0211122233", "Cartoleria Rossi S.n.c.", "Via Dante", "20121", "Milano", "MI"),
    _supplier("0344455566", "Elettroforniture Bianchi S.r.l.", "Corso Vittorio Emanuele",
              "80133", "Napoli", "NA"),
    _supplier("0477788899", "Studio Verdi Consulenze S.r.l.", "Piazza Maggiore", "40124",
              "Bologna", "BO"),
    _supplier("0512312312", "Trasporti Esposito S.p.A.", "Via Appia", "00179", "Roma", "RM"),
)
ITEMS = (
    ("Carta A4 80 g, risma da 500 fogli", "pz", Decimal("4.90")),
    ("Toner stampante laser nero", "pz", Decimal("62.00")),
    ("Consulenza fiscale", "ore", Decimal("85.00")),
    ("Cavo elettrico FG16OR16 3G2,5", "m", Decimal("1.35")),
    ("Trasporto merci Roma-Milano", "viaggio", Decimal("420.00")),
    ("Manutenzione impianto elettrico", "ore", Decimal("48.50")),
    ("Licenza software gestionale, canone annuo", "pz", Decimal("390.00")),
)
RATES = (Decimal("22.00"), Decimal("22.00"), Decimal("10.00"), Decimal("4.00"))

DEFECTS = (
    "totals",        # PrezzoTotale ≠ quantity × price (SdI 00423, 00422)
    "natura",        # AliquotaIVA 0 without Natura (00400)
    "vat-number",    # supplier partita IVA with a wrong check digit (00301/00302)
    "xml",           # not well-formed / not XSD-valid (00200)
    "file-name",     # a name SdI refuses (00001)
    "not-for-us",    # valid, but the customer is another company (the product refuses it)
    "signature",     # .xml.p7m whose content was altered after signing (00102)
)


@dataclass(frozen=True)
class GeneratedInvoice:
    """One generated file: name, bytes, whether SdI/the product should accept it, and why not."""

    file_name: str
    data: bytes
    valid: bool
    defect: str | None = None
    supplier: str | None = None
    number: str | None = None


def _lines(rng: random.Random, count: int) -> tuple[Line, ...]:
    lines = []
    for i in range(1, count + 1):
        description, unit, price = rng.choice(ITEMS)
        qty = Decimal(rng.randint(1, 12)).quantize(Decimal("0.01"))
        rate = rng.choice(RATES)
        lines.append(Line(number=i, description=description, quantity=qty, unit=unit,
                          unit_price=price, total_price=line_total(price, qty), vat_rate=rate))
    return tuple(lines)


def _body(lines: tuple[Line, ...], number: str, on: date) -> Body:
    summary = summarize_vat(lines)
    total = sum((s.taxable + s.tax for s in summary), Decimal("0"))
    return Body(
        document_type="TD01", currency="EUR", date=on, number=number, lines=lines,
        vat_summary=summary, total=total, causale=("Fornitura come da ordine",),
        payments=(Payment("TP02", (PaymentDetail(method="MP05", amount=total,
                                                 due_date=on + timedelta(days=30),
                                                 iban="IT60X0542811101000000123456"),)),),
    )


def supplier_invoice(
    *,
    supplier: Party = SUPPLIERS[0],
    customer: Party = COMPANY_PARTY,
    progressivo: str = "00001",
    number: str = "1",
    on: date | None = None,
    lines: int = 2,
    bodies: int = 1,
    format: str = "FPR12",
    codice_destinatario: str | None = None,
    pec_destinatario: str | None = None,
    seed: int = 0,
) -> tuple[str, InvoiceDocument]:
    """A valid invoice from `supplier` to `customer` (the sandbox company by default):
    (file name, document). `bodies` > 1 makes a lotto."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    on = on or date.today() - timedelta(days=rng.randint(0, 20))
    if codice_destinatario is None:
        codice_destinatario = "UFABCD" if format == "FPA12" else "0000000"
    assert supplier.vat is not None
    doc = InvoiceDocument(
        format=format,
        transmission=Transmission(sender=supplier.vat, progressivo=progressivo,
                                  codice_destinatario=codice_destinatario, formato=format,
                                  pec_destinatario=pec_destinatario),
        supplier=supplier,
        customer=customer,
        bodies=tuple(_body(_lines(rng, lines), number if bodies == 1 else f"{number}-{i}", on)
                     for i in range(1, bodies + 1)),
    )
    name = invoice_file_name(supplier.vat.country, supplier.vat.code, progressivo)
    return name, doc


def sign_p7m(xml: bytes, key: Any, cert: Any) -> bytes:
    """CAdES-BES-like attached signature (DER `.xml.p7m`) with the CMS engine."""
    from wpec_invoicing.cms import sign_attached

    return sign_attached(xml, key, cert)


def _with_defect(defect: str, name: str, doc: InvoiceDocument,
                 signer: tuple[Any, Any] | None) -> tuple[str, bytes]:
    body = doc.bodies[0]
    if defect == "totals":
        first = body.lines[0]
        wrong = replace(first, total_price=first.total_price + Decimal("10.00"))
        doc = replace(doc, bodies=(replace(body, lines=(wrong, *body.lines[1:])),))
        return name, write_invoice(doc)
    if defect == "natura":
        zero = replace(body.lines[0], vat_rate=Decimal("0.00"), natura=None)
        lines = (zero, *body.lines[1:])
        summary = tuple(s if s.rate else replace(s, natura=None)
                        for s in _summary_without_natura(lines))
        doc = replace(doc, bodies=(replace(body, lines=lines, vat_summary=summary),))
        return name, write_invoice(doc)
    if defect == "vat-number":
        assert doc.supplier.vat is not None
        code = doc.supplier.vat.code
        bad = code[:-1] + str((int(code[-1]) + 1) % 10)
        supplier = replace(doc.supplier, vat=VatId("IT", bad), fiscal_code=bad)
        doc = replace(doc, supplier=supplier)
        return name, write_invoice(doc)
    if defect == "xml":
        data = write_invoice(doc)
        return name, data.replace(b"<Numero>", b"<Numero><Errato/>", 1)
    if defect == "file-name":
        return name.replace("_", "-", 1), write_invoice(doc)
    if defect == "not-for-us":
        return name, write_invoice(replace(doc, customer=OTHER_CUSTOMER))
    if defect == "signature":
        if signer is None:
            raise ValueError("the 'signature' defect needs a signer (key, cert)")
        p7m = sign_p7m(write_invoice(doc), *signer)
        marker = body.number.encode()
        at = p7m.find(b"<Numero>" + marker)
        tampered = p7m[:at + 8] + b"X" + p7m[at + 9:] if at >= 0 else p7m[:-40] + b"\0" + p7m[-39:]
        return name + ".p7m", tampered
    raise ValueError(f"unknown defect {defect!r}; one of {DEFECTS}")


def _summary_without_natura(lines: tuple[Line, ...]) -> tuple[VatSummary, ...]:
    # summarize_vat may refuse a 0 rate without Natura; build the summary by hand then.
    groups: dict[Decimal, Decimal] = {}
    for line in lines:
        rate = line.vat_rate or Decimal("0.00")
        groups[rate] = groups.get(rate, Decimal("0.00")) + line.total_price
    return tuple(VatSummary(rate=rate, taxable=taxable,
                            tax=(taxable * rate / 100).quantize(Decimal("0.01")))
                 for rate, taxable in groups.items())


def generate_batch(
    count: int,
    *,
    seed: int = 0,
    invalid_ratio: float = 0.0,
    defects: tuple[str, ...] = DEFECTS,
    signer: tuple[Any, Any] | None = None,
    sign_ratio: float = 0.0,
    first_progressivo: int = 1,
    customer: Party = COMPANY_PARTY,
) -> list[GeneratedInvoice]:
    """`count` supplier invoices; about `invalid_ratio` of them carry one of `defects`
    (cycled), about `sign_ratio` of the valid ones are signed `.xml.p7m` (needs `signer`)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    usable: tuple[str, ...] = tuple(d for d in defects if d != "signature" or signer)
    out: list[GeneratedInvoice] = []
    defect_cycle = 0
    for i in range(count):
        supplier = SUPPLIERS[i % len(SUPPLIERS)]
        progressivo = f"{first_progressivo + i:05d}"
        number = f"{2026}/{first_progressivo + i}"
        name, doc = supplier_invoice(supplier=supplier, customer=customer,
                                     progressivo=progressivo, number=number,
                                     lines=rng.randint(1, 5), seed=seed * 1000 + i)
        make_invalid = usable and rng.random() < invalid_ratio
        if make_invalid:
            defect = usable[defect_cycle % len(usable)]
            defect_cycle += 1
            file_name, data = _with_defect(defect, name, doc, signer)
            out.append(GeneratedInvoice(file_name, data, False, defect, supplier.name, number))
            continue
        data = write_invoice(doc)
        if signer is not None and rng.random() < sign_ratio:
            out.append(GeneratedInvoice(name + ".p7m", sign_p7m(data, *signer), True, None,
                                        supplier.name, number))
        else:
            out.append(GeneratedInvoice(name, data, True, None, supplier.name, number))
    return out


DefectMaker = Callable[[str, InvoiceDocument, tuple[Any, Any] | None], tuple[str, bytes]]
