"""Invoices from data: JSON or CSV records → `InvoiceDocument` → FatturaPA XML.

WHY the product numbers them: the invoice number (per year) and the progressivo of the file
name must never repeat, across processes and crashes; the accounting software should not have
to track either. Both come from store counters, allocated in the same transaction that queues
the invoice: if anything in the batch is refused, the transaction rolls back and no number is
consumed (Italian invoice numbering must have no gaps).

Record format (JSON: a list, or `{"supplier": {...}, "invoices": [...]}`):

    {"customer": {"name": "Cliente S.p.A.", "vat": "IT12345678903", "fiscal_code": null,
                  "street": "Corso Italia", "number": "10", "postal_code": "20122",
                  "city": "Milano", "province": "MI", "country": "IT",
                  "codice_destinatario": "0000000", "pec": "cliente@pec.example.it"},
     "format": "FPR12", "document_type": "TD01", "date": "2026-01-15", "number": null,
     "currency": "EUR", "causale": "...",
     "payment": {"method": "MP05", "iban": "IT60X0542811101000000123456",
                 "due_date": "2026-02-15", "conditions": "TP02"},
     "lines": [{"description": "Consulenza", "quantity": "2", "unit_price": "100.00",
                "vat_rate": "22", "natura": null, "unit": "ore"}]}

CSV: one row per invoice with the same keys flattened (`customer_name`, `customer_vat`,
`customer_street`, …, `payment_method`, `iban`, `due_date`) and a `ref` column; lines either
in a second CSV (`ref` + line columns) or, one line per invoice, as line columns of the same
row (`description`, `quantity`, `unit_price`, `vat_rate`, `natura`, `unit`).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
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
    line_total,
    summarize_vat,
)

LINE_KEYS = ("description", "quantity", "unit_price", "vat_rate", "natura", "unit",
             "total_price")
MAX_AMOUNT = Decimal("1e13")  # FatturaPA amounts have at most 13 integer digits
CUSTOMER_KEYS = ("name", "first_name", "last_name", "vat", "fiscal_code", "street", "number",
                 "postal_code", "city", "province", "country", "codice_destinatario", "pec")


class RecordError(ValueError):
    """A record cannot become an invoice (the message names the record and the field)."""


@dataclass
class InvoiceRecord:
    """One invoice to create, as read from the input (numbers not yet allocated)."""

    ref: str
    data: dict[str, Any]


def load_records(text: str, *, kind: str, lines_text: str | None = None) -> tuple[
        list[InvoiceRecord], dict[str, Any]]:
    """Parse JSON or CSV input → (records, supplier overrides)."""
    if kind == "json":
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"not valid JSON: line {exc.lineno} column {exc.colno}: "
                              f"{exc.msg}") from None
        except RecursionError:
            raise RecordError("JSON nested too deeply") from None
        supplier: dict[str, Any] = {}
        if isinstance(doc, dict):
            supplier = doc.get("supplier") or {}
            doc = doc.get("invoices")
        if not isinstance(doc, list):
            raise RecordError("JSON must be a list of invoices or an object with 'invoices'")
        records = []
        for i, entry in enumerate(doc, 1):
            if not isinstance(entry, dict):
                raise RecordError(f"invoice #{i}: not an object")
            records.append(InvoiceRecord(str(entry.get("ref") or f"#{i}"), entry))
        return records, supplier
    rows = _csv_rows(text, "invoices CSV")
    line_rows = _csv_rows(lines_text, "lines CSV") if lines_text is not None else None
    records = []
    for i, row in enumerate(rows, 2):  # line 1 is the header
        ref = (row.get("ref") or "").strip() or f"row {i}"
        customer = {k: row.get(f"customer_{k}") for k in CUSTOMER_KEYS
                    if row.get(f"customer_{k}") not in (None, "")}
        for k in ("codice_destinatario", "pec"):
            if row.get(k):
                customer[k] = row[k]
        data: dict[str, Any] = {k: row[k] for k in ("format", "document_type", "date",
                                                     "number", "currency", "causale")
                                if row.get(k)}
        data["customer"] = customer
        if row.get("payment_method") or row.get("iban"):
            data["payment"] = {"method": row.get("payment_method") or "MP05",
                               "iban": row.get("iban") or None,
                               "due_date": row.get("due_date") or None}
        if line_rows is not None:
            data["lines"] = [{k: lr.get(k) for k in LINE_KEYS if lr.get(k) not in (None, "")}
                             for lr in line_rows if (lr.get("ref") or "").strip() == ref]
        else:
            data["lines"] = [{k: row.get(k) for k in LINE_KEYS if row.get(k) not in (None, "")}]
        records.append(InvoiceRecord(ref, data))
    return records, {}


def _csv_rows(text: str | None, what: str) -> list[dict[str, str]]:
    if text is None:
        return []
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text, newline=""), dialect=dialect)
    try:
        if not reader.fieldnames:
            raise RecordError(f"{what}: no header row")
        return [{(k or "").strip(): _cell(v) for k, v in row.items()} for row in reader]
    except csv.Error as exc:
        raise RecordError(f"{what}: line {reader.line_num}: {exc}") from None


def _cell(value: object) -> str:
    # Surplus cells of a row come as a list under the None key.
    if isinstance(value, list):
        return ";".join(str(v).strip() for v in value)
    return (value or "").strip() if isinstance(value, str) or value is None else str(value)


def _dec(value: Any, field: str, ref: str, *, default: Decimal | None = None) -> Decimal | None:
    if value in (None, ""):
        return default
    try:
        number = Decimal(str(value).replace(",", ".") if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise RecordError(f"{ref}: {field}: not a number: {value!r}") from None
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        raise RecordError(f"{ref}: {field}: not a usable amount: {value!r}")
    return number


def _date(value: Any, field: str, ref: str) -> date | None:
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise RecordError(f"{ref}: {field}: not a date (YYYY-MM-DD): {value!r}") from None


def _vat(value: Any, field: str, ref: str) -> VatId | None:
    if not value:
        return None
    text = str(value).strip().upper().replace(" ", "")
    if len(text) < 4 or not text[:2].isalpha():
        raise RecordError(f"{ref}: {field}: expected country + code, e.g. IT01234567897: "
                          f"{value!r}")
    return VatId(text[:2], text[2:])


def _address(data: dict[str, Any], ref: str, who: str) -> Address:
    missing = [k for k in ("street", "postal_code", "city") if not data.get(k)]
    if missing:
        raise RecordError(f"{ref}: {who}: missing {', '.join(missing)}")
    return Address(street=str(data["street"]), postal_code=str(data["postal_code"]),
                   city=str(data["city"]), country=str(data.get("country") or "IT").upper(),
                   number=str(data["number"]) if data.get("number") else None,
                   province=str(data["province"]).upper() if data.get("province") else None)


def supplier_party(company: Any, overrides: dict[str, Any], defaults: dict[str, Any]) -> Party:
    """The company as CedentePrestatore: VAT and name from `[company]`, address and regime
    from the input's `supplier` block or `[outbox.supplier]`."""
    data = {**(defaults or {}), **(overrides or {})}
    vat_text = getattr(company, "vat", None) or data.get("vat")
    vat = _vat(vat_text, "supplier.vat", "supplier")
    if vat is None:
        raise RecordError("supplier: no VAT number ([company] vat in wpec.toml)")
    name = getattr(company, "name", None) or data.get("name")
    if not name:
        raise RecordError("supplier: no name ([company] name in wpec.toml)")
    return Party(vat=vat, fiscal_code=getattr(company, "fiscal_code", None)
                 or data.get("fiscal_code"), company_name=name,
                 address=_address(data, "supplier", "address ([outbox.supplier] or the input's"
                                  " 'supplier' block)"),
                 regime_fiscale=str(data.get("regime_fiscale") or "RF01"))


def build_document(record: InvoiceRecord, *, supplier: Party, number: str, progressivo: str,
                   today: date) -> InvoiceDocument:
    """One record → an `InvoiceDocument` (totals and VAT summary computed here)."""
    d = record.data
    ref = record.ref
    cust = d.get("customer")
    if not isinstance(cust, dict):
        raise RecordError(f"{ref}: customer: missing")
    fmt = str(d.get("format") or "FPR12").upper()
    if fmt not in ("FPR12", "FPA12"):
        raise RecordError(f"{ref}: format: FPR12 or FPA12, got {fmt!r}")
    customer = Party(
        vat=_vat(cust.get("vat"), "customer.vat", ref),
        fiscal_code=str(cust["fiscal_code"]).upper() if cust.get("fiscal_code") else None,
        company_name=cust.get("name") or None,
        first_name=cust.get("first_name") or None,
        last_name=cust.get("last_name") or None,
        address=_address(cust, ref, "customer"),
    )
    if not customer.company_name and not (customer.first_name and customer.last_name):
        raise RecordError(f"{ref}: customer: give name, or first_name and last_name")
    raw_lines = d.get("lines") or []
    if not isinstance(raw_lines, list) or not raw_lines:
        raise RecordError(f"{ref}: lines: at least one line is needed")
    lines = []
    for n, raw in enumerate(raw_lines, 1):
        if not isinstance(raw, dict) or not raw.get("description"):
            raise RecordError(f"{ref}: line {n}: description missing")
        qty = _dec(raw.get("quantity"), f"line {n} quantity", ref)
        price = _dec(raw.get("unit_price"), f"line {n} unit_price", ref)
        if price is None:
            raise RecordError(f"{ref}: line {n}: unit_price missing")
        rate = _dec(raw.get("vat_rate"), f"line {n} vat_rate", ref, default=Decimal("22"))
        lines.append(Line(
            number=n, description=str(raw["description"]),
            quantity=qty.quantize(Decimal("0.01")) if qty is not None else None,
            unit=str(raw["unit"]) if raw.get("unit") else None,
            unit_price=price, total_price=line_total(price, qty),
            vat_rate=rate.quantize(Decimal("0.01")) if rate is not None else None,
            # text whatever JSON gave (a list here once crashed the VAT summary); the
            # validation that follows judges the code
            natura=str(raw["natura"]) if raw.get("natura") else None,
        ))
    summary = summarize_vat(lines)
    total = sum((s.taxable + s.tax for s in summary), Decimal("0"))
    on = _date(d.get("date"), "date", ref) or today
    payments: tuple[Payment, ...] = ()
    pay = d.get("payment")
    if isinstance(pay, dict):
        payments = (Payment(str(pay.get("conditions") or "TP02"), (PaymentDetail(
            method=str(pay.get("method") or "MP05"), amount=total,
            due_date=_date(pay.get("due_date"), "payment.due_date", ref),
            iban=pay.get("iban") or None),)),)
    codice = str(cust.get("codice_destinatario") or ("999999" if fmt == "FPA12"
                                                       else "0000000")).upper()
    causale = d.get("causale")
    body = Body(
        document_type=str(d.get("document_type") or "TD01"), currency=str(d.get("currency")
                                                                          or "EUR"),
        date=on, number=number, lines=tuple(lines), vat_summary=summary, total=total,
        causale=(str(causale),) if causale else (), payments=payments,
    )
    assert supplier.vat is not None
    return InvoiceDocument(
        format=fmt,
        transmission=Transmission(sender=supplier.vat, progressivo=progressivo,
                                  codice_destinatario=codice, formato=fmt,
                                  pec_destinatario=cust.get("pec") or None),
        supplier=supplier, customer=customer, bodies=(body,),
    )
