"""Received invoices (passive cycle): list, detail, original bytes, approve / refuse, import.

Approving sets the state to `verified` (so exporters hand it on, like any verified invoice)
and refusing to `refused`; both keep the decision, its reason and who took it
(`invoice_reviews`) and write `invoice.approved` / `invoice.refused`.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, Literal

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict, InvalidRequest, NotFound
from wpec_invoicing.app.models import (
    JsonPage,
    Model,
    Page,
    check_limit,
    cursor_int,
    decode_cursor,
    page_of,
    read_as,
    read_page_json_async,
)
from wpec_invoicing.app.timefmt import Aware, Money

Status = Literal["verified", "needs-review", "refused"]
STATUSES = ("verified", "needs-review", "refused")


class Reason(Model):
    code: str
    message: str


class ReceivedSummary(Model):
    """One received invoice as a list shows it."""

    id: int
    status: str
    file_name: str | None = None
    source: str
    supplier_vat: str | None = None
    supplier_fiscal_code: str | None = None
    supplier_name: str | None = None
    document_type: str | None = None
    number: str | None = None
    invoice_date: date | None = None
    currency: str | None = None
    total: Money | None = None
    received_at: Aware


class InvoiceLineOut(Model):
    body: int
    number: int | None = None
    description: str | None = None
    quantity: Money | None = None
    unit_price: Money | None = None
    total: Money | None = None
    vat_rate: Money | None = None
    natura: str | None = None


class ReviewOut(Model):
    decision: str
    reason: str | None = None
    actor: str
    at: Aware


class ReceivedDetail(ReceivedSummary):
    """Everything known about one received invoice."""

    reasons: list[Reason]
    file_sha256: str
    size: int
    version: str | None = None
    bodies: int
    valid: bool
    identificativo_sdi: str | None = None
    customer_vat: str | None = None
    customer_fiscal_code: str | None = None
    customer_name: str | None = None
    taxable: Money | None = None
    tax: Money | None = None
    duplicate_of: int | None = None
    source_message_id: int | None = None
    source_path: str | None = None
    metadata_file_name: str | None = None
    signature: dict[str, Any] | None = None
    envelope_signature: dict[str, Any] | None = None
    checks: list[dict[str, Any]]
    supplier_registry: str  # known | blocked | unknown
    lines: list[InvoiceLineOut]
    reviews: list[ReviewOut]


class Original(Model):
    """The exact bytes of the legal document and how to name them."""

    file_name: str
    media_type: str
    data: bytes


class ImportOutcome(Model):
    """What an upload did: counts and one verdict per file, as `wpec import --json`."""

    imported: int
    duplicates: int
    invalid: int
    skipped: int
    refused: int
    items: list[dict[str, Any]]


def _summary_columns():  # the columns a list needs (no report JSON, no lines)
    from wpec_invoicing.store.models import ReceivedInvoice as R

    return (R.id, R.status, R.file_name, R.source, R.supplier_vat, R.supplier_fiscal_code,
            R.supplier_name, R.document_type, R.number, R.invoice_date, R.currency, R.total,
            R.received_at)


def list_received(ctx: AppContext, *, status: str | None = None, supplier: str | None = None,
                  since: date | None = None, until: date | None = None,
                  number: str | None = None, text: str | None = None,
                  cursor: str | None = None, limit: int = 50) -> Page[ReceivedSummary]:
    """Received invoices, oldest first. `supplier` is a VAT number (with or without the
    country prefix) or a codice fiscale; `since`/`until` bound the invoice date; `text`
    searches supplier name, number and file name."""
    shape, params = _list_params(status=status, supplier=supplier, since=since, until=until,
                                 number=number, text=text, cursor=cursor, limit=limit)
    return page_of(read_as(ctx, ReceivedSummary, _list_statement(shape), params), limit)


async def list_received_json(ctx: AppContext, *, status: str | None = None,
                             supplier: str | None = None, since: date | None = None,
                             until: date | None = None, number: str | None = None,
                             text: str | None = None, cursor: str | None = None,
                             limit: int = 50) -> JsonPage:
    """`list_received` for an asyncio server (the REST API): the same page, as the JSON of
    its `ReceivedSummary`s, read without leaving the event loop on PostgreSQL (see
    `read_page_json_async`)."""
    shape, params = _list_params(status=status, supplier=supplier, since=since, until=until,
                                 number=number, text=text, cursor=cursor, limit=limit)
    return await read_page_json_async(ctx, ReceivedSummary, _list_statement(shape), params,
                                      limit)


def _list_params(*, status: str | None, supplier: str | None, since: date | None,
                 until: date | None, number: str | None, text: str | None,
                 cursor: str | None, limit: int) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The filters checked, as a statement shape (which filters are on) and its values."""
    check_limit(limit)
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    if since and until and since > until:
        raise InvalidRequest(f"since {since} is after until {until}")
    params: dict[str, Any] = {"limit": limit + 1}
    after = cursor_int(decode_cursor(cursor), "id")
    if after is not None:
        params["after"] = after
    if status:
        params["status"] = status
    if supplier:
        value = supplier.strip().upper().replace(" ", "")
        # A bare number may be an Italian VAT number given without its country prefix.
        params["supplier"], params["supplier_it"] = value, (
            f"IT{value}" if value.isdigit() else value)
    if since:
        params["since"] = since
    if until:
        params["until"] = until
    if number:
        params["number"] = number
    if text:
        params["like"] = f"%{_escape_like(text.strip())}%"
    return tuple(sorted(params)), params


@cache
def _list_statement(shape: tuple[str, ...]) -> Any:
    """One statement per combination of filters, its values bound by name: built (and
    compiled) once, not per request, which costs more than a keyset page's query."""
    from sqlalchemy import bindparam, or_, select

    from wpec_invoicing.store.models import ReceivedInvoice as R

    query = select(*_summary_columns()).order_by(R.id).limit(bindparam("limit"))
    if "after" in shape:
        query = query.where(R.id > bindparam("after"))
    if "status" in shape:
        query = query.where(R.status == bindparam("status"))
    if "supplier" in shape:
        query = query.where(or_(
            R.supplier_vat == bindparam("supplier"), R.supplier_vat == bindparam("supplier_it"),
            R.supplier_fiscal_code == bindparam("supplier"),
            R.supplier_fiscal_code == bindparam("supplier_it")))
    if "since" in shape:
        query = query.where(R.invoice_date >= bindparam("since"))
    if "until" in shape:
        query = query.where(R.invoice_date <= bindparam("until"))
    if "number" in shape:
        query = query.where(R.number == bindparam("number"))
    if "like" in shape:
        like = bindparam("like")
        query = query.where(or_(R.supplier_name.ilike(like, escape="\\"),
                                R.number.ilike(like, escape="\\"),
                                R.file_name.ilike(like, escape="\\")))
    return query


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _load(s: Any, invoice_id: int) -> Any:
    from wpec_invoicing.store.models import ReceivedInvoice

    inv = s.get(ReceivedInvoice, invoice_id)
    if inv is None:
        raise NotFound(f"no received invoice with id {invoice_id}")
    return inv


def get_received(ctx: AppContext, invoice_id: int) -> ReceivedDetail:
    """Parties, totals, lines, validation and check results, supplier verification, reviews."""
    with ctx.read() as s:
        return _detail(s, _load(s, invoice_id))


def _detail(s: Any, inv: Any) -> ReceivedDetail:
    from sqlalchemy import select

    from wpec_invoicing.rules.suppliers import find_supplier
    from wpec_invoicing.store.app_models import InvoiceReview

    supplier = find_supplier(s, inv.supplier_vat, inv.supplier_fiscal_code)
    reviews = s.scalars(select(InvoiceReview).where(InvoiceReview.invoice_id == inv.id)
                        .order_by(InvoiceReview.id))
    report = inv.report if isinstance(inv.report, dict) else {}
    data = {c.key: getattr(inv, c.key) for c in inv.__table__.columns}
    data.update(
        reasons=inv.reasons or [], checks=report.get("checks", []),
        supplier_registry=supplier.status if supplier is not None else "unknown",
        source_message_id=inv.message_id,
        lines=[InvoiceLineOut(body=ln.body_index, number=ln.line_number,
                              description=ln.description, quantity=ln.quantity,
                              unit_price=ln.unit_price, total=ln.total, vat_rate=ln.vat_rate,
                              natura=ln.natura) for ln in inv.lines],
        reviews=[ReviewOut.model_validate(r) for r in reviews],
    )
    return ReceivedDetail.model_validate(data)


def original(ctx: AppContext, invoice_id: int) -> Original:
    """The file exactly as received (XML or signed p7m): the legal document."""
    with ctx.session() as s:
        inv = _load(s, invoice_id)
        sha, name = inv.file_sha256, inv.file_name or f"invoice-{inv.id}.xml"
    data = ctx.store.archive.get(sha)
    media = "application/pkcs7-mime" if name.lower().endswith(".p7m") else "application/xml"
    return Original(file_name=Path(name).name, media_type=media, data=data)


class AttachmentOut(Model):
    """One embedded attachment (Allegati): its index, a safe file name, the sniffed type."""

    index: int
    file_name: str
    media_type: str
    size: int
    description: str | None = None


_MAGIC = ((b"%PDF-", "application/pdf"), (b"\x89PNG\r\n\x1a\n", "image/png"),
          (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


def _sniff(data: bytes) -> str:
    """The media type from the bytes themselves, never from the declared name or format."""
    return next((t for magic, t in _MAGIC if data.startswith(magic)), "application/octet-stream")


def _embedded(ctx: AppContext, invoice_id: int) -> list[Any]:
    from wpec_invoicing.fatturapa import read_invoice

    doc = original(ctx, invoice_id)
    report = read_invoice(doc.data, file_name=doc.file_name, lenient=True, trust=None)
    if report.document is None:
        return []
    return [a for b in report.document.bodies for a in b.attachments]


def _attachment_name(name: str | None, index: int) -> str:
    from wpec_invoicing.rules.files import safe_name

    return safe_name(name, f"allegato-{index}")


def attachments(ctx: AppContext, invoice_id: int) -> list[AttachmentOut]:
    """The invoice's embedded attachments, numbered from 1."""
    return [AttachmentOut(index=n, file_name=_attachment_name(a.name, n),
                          media_type=_sniff(a.data), size=len(a.data),
                          description=a.description)
            for n, a in enumerate(_embedded(ctx, invoice_id), start=1)]


def attachment(ctx: AppContext, invoice_id: int, index: int) -> Original:
    """The bytes of attachment `index` (from 1), with a safe name and the sniffed type."""
    items = _embedded(ctx, invoice_id)
    if not 1 <= index <= len(items):
        raise NotFound(f"invoice {invoice_id} has no attachment {index} ({len(items)} in it)")
    a = items[index - 1]
    return Original(file_name=_attachment_name(a.name, index), media_type=_sniff(a.data),
                    data=a.data)


def decide(ctx: AppContext, invoice_id: int, decision: Literal["approved", "refused"], *,
           reason: str | None = None, actor: str = "cli") -> ReceivedDetail:
    """Approve (→ verified) or refuse (→ refused) an invoice, with the reason, once."""
    from sqlalchemy import select

    from wpec_invoicing.store.app_models import InvoiceReview, utcnow
    from wpec_invoicing.store.events import invoice_event

    if decision not in ("approved", "refused"):
        raise InvalidRequest(f"decision {decision!r}: approved or refused")
    reason = (reason or "").strip() or None
    if decision == "refused" and not reason:
        raise InvalidRequest("a refusal needs a reason")
    with ctx.session() as s:
        inv = _load(s, invoice_id)
        last = s.scalar(select(InvoiceReview).where(InvoiceReview.invoice_id == inv.id)
                        .order_by(InvoiceReview.id.desc()).limit(1))
        if last is not None and last.decision == decision:
            raise Conflict(f"invoice {invoice_id} is already {decision}")
        if decision == "approved" and inv.status == "verified" and last is None:
            raise Conflict(f"invoice {invoice_id} is verified already: nothing to approve")
        s.add(InvoiceReview(invoice_id=inv.id, decision=decision, reason=reason, actor=actor,
                            at=utcnow()))
        previous = inv.status
        inv.status = "verified" if decision == "approved" else "refused"
        if decision == "refused":
            inv.reasons = [*(inv.reasons or []),
                           {"code": "refused-by-operator", "message": reason}]
        s.flush()
        invoice_event(s, inv, decision, previous=previous, actor=actor, reason=reason)
        return _detail(s, inv)


def import_files(ctx: AppContext, files: list[tuple[str, bytes]]) -> ImportOutcome:
    """Import uploaded files (XML, p7m, zip, eml) exactly as `wpec import` imports paths."""
    import tempfile

    from wpec_invoicing.importer import import_paths
    from wpec_invoicing.pec.names import safe_filename

    if not files:
        raise InvalidRequest("no file uploaded")
    with tempfile.TemporaryDirectory(prefix="wpec-upload-") as tmp:
        paths = []
        for n, (name, data) in enumerate(files):
            folder = Path(tmp) / str(n)  # one folder each: two uploads may share a name
            folder.mkdir()
            path = folder / safe_filename(name, f"upload-{n}")
            path.write_bytes(data)
            paths.append(path)
        summary = import_paths(ctx.config, ctx.store, paths)
        result = summary.to_json()
    for item in result.get("items", []):  # say the uploaded name, not our temporary path
        label = str(item.get("input", ""))
        if label.startswith(tmp):
            item["input"] = label[len(tmp):].lstrip("/").split("/", 1)[-1]
    return ImportOutcome.model_validate(result)


def summaries(ctx: AppContext, *, status: str | None = None, supplier: str | None = None,
              since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
    """Every matching invoice as `wpec invoices list --json` prints it (a stable format)."""
    from wpec_invoicing.rules.invoices import invoice_summary
    from wpec_invoicing.store.models import ReceivedInvoice

    ids: list[int] = []
    cursor = None
    while True:
        page = list_received(ctx, status=status, supplier=supplier, since=since, until=until,
                             cursor=cursor, limit=500)
        ids += [i.id for i in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    out = []
    with ctx.session() as s:
        for start in range(0, len(ids), 500):
            from sqlalchemy import select

            chunk = ids[start:start + 500]
            rows = s.scalars(select(ReceivedInvoice).where(ReceivedInvoice.id.in_(chunk))
                             .order_by(ReceivedInvoice.id))
            out += [invoice_summary(inv) for inv in rows]
    return out


def detail_dict(ctx: AppContext, invoice_id: int) -> dict[str, Any]:
    """One invoice as `wpec invoices show --json` prints it (a stable format)."""
    from wpec_invoicing.rules.invoices import invoice_detail

    with ctx.session() as s:
        return invoice_detail(_load(s, invoice_id))
