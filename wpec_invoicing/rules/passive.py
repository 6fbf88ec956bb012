"""Passive invoices: register a supplier's invoice file and decide its state.

Each invoice file (XML or p7m, kept byte-for-byte in the archive) is read leniently (so what is
there is extracted even from messy files) and validated strictly, then verified:

- addressed to us: the customer's VAT number or fiscal code is the configured company's,
  else refused ("not for us");
- the supplier is known (fine), unknown (needs review) or blocked (refused), per the registry;
- duplicates: the same file hash is the same record (nothing new is created); the same
  IdentificativoSdI or the same supplier + number + date + type as another invoice is refused;
- the totals are consistent (lines ↔ VAT summary ↔ document total);
- signatures (the p7m's and the PEC envelope's) are recorded; a broken one needs review.

The result is one of `verified`, `needs-review` or `refused`, with the reasons as values
(`{"code": ..., "message": ...}`), so an operator and the accounting software see why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from wpec_invoicing.rules.suppliers import find_suppliers
from wpec_invoicing.store.events import invoice_event
from wpec_invoicing.store.ids import reserve_ids
from wpec_invoicing.store.models import InvoiceLine, ReceivedInvoice

log = logging.getLogger(__name__)

VERIFIED, NEEDS_REVIEW, REFUSED = "verified", "needs-review", "refused"
LINE_TOLERANCE = Decimal("1.00")  # SdI's tolerance on ImponibileImporto (00422)
CENT = Decimal("0.01")


@dataclass
class Verdict:
    status: str
    reasons: list[dict[str, str]]


def _json_safe(value: Any) -> Any:
    """A JSON-serialisable copy (dates, Decimals and enums as text)."""
    if value is None:
        return None
    return json.loads(json.dumps(value, default=str))


def _vat(party: Any) -> str | None:
    vat = getattr(party, "vat", None)
    if vat is None:
        return None
    return f"{vat.country}{vat.code}".upper()


def _name(party: Any) -> str | None:
    if party is None:
        return None
    if getattr(party, "company_name", None):
        return party.company_name
    names = [getattr(party, "first_name", None), getattr(party, "last_name", None)]
    return " ".join(n for n in names if n) or None


def _signature_json(report: Any) -> dict | None:
    sig = getattr(report, "signature", None)
    if sig is None:
        return None
    return _json_safe(sig.to_json() if hasattr(sig, "to_json") else sig)


def read_report(data: bytes, file_name: str | None, trust: Any) -> Any:
    """The verdict on a received file: strict, as `wpec invoice validate` judges it (encoding,
    schema, SdI checks, with their codes), with the invoice read leniently.

    Reading may be lenient, judging may not: a file the strict reader rejects is "not valid"
    with the strict reasons, even when the lenient reader can repair it; what the lenient
    reader repaired is listed among the warnings, and when only the lenient reader finds
    the invoice (the strict one could not read it) its reading is the one kept. A valid file
    is read once."""
    from dataclasses import replace

    from wpec_invoicing.fatturapa import read_invoice

    strict = read_invoice(data, file_name=file_name, trust=trust)
    if strict.valid:
        return strict
    lenient = read_invoice(data, file_name=file_name, lenient=True, trust=trust)
    repairs = tuple(w for w in lenient.warnings if w not in strict.warnings)
    if strict.document is None and lenient.document is not None:
        return replace(strict, document=lenient.document, format=lenient.format, error=None,
                       warnings=strict.warnings + repairs, checks=strict.checks or (
                           _unreadable_check(strict),))
    return replace(strict, warnings=strict.warnings + repairs)


def _unreadable_check(report: Any) -> Any:
    """The strict verdict of a file only the lenient reader could read, as an SdI check."""
    from wpec_invoicing.fatturapa import CheckResult

    return CheckResult("00200", f"file not conforming to the format: {report.error}")


@dataclass(frozen=True)
class InvoiceFile:
    """One invoice file to register, with where it came from (see `register_invoices`).
    `report` is `read_report`'s verdict on `data` when the caller already has it."""

    data: bytes
    file_name: str | None
    source: str
    message_id: int | None = None
    source_path: str | None = None
    metadata: tuple[str, bytes] | None = None
    identificativo_sdi: str | None = None
    envelope_signature: dict | None = None
    report: Any = None


def register_invoice(
    session: Session,
    config: Any,
    archive: Any,
    data: bytes,
    *,
    file_name: str | None,
    source: str,
    message_id: int | None = None,
    source_path: str | None = None,
    metadata: tuple[str, bytes] | None = None,
    identificativo_sdi: str | None = None,
    envelope_signature: dict | None = None,
    trust: Any = None,
    report: Any = None,
) -> tuple[ReceivedInvoice, bool]:
    """Store and verify one invoice file; (record, created). Same bytes again → (old, False).
    `report` is `read_report`'s verdict on `data` when the caller already has it."""
    return register_invoices(session, config, archive, [InvoiceFile(
        data, file_name, source, message_id=message_id, source_path=source_path,
        metadata=metadata, identificativo_sdi=identificativo_sdi,
        envelope_signature=envelope_signature, report=report)], trust=trust)[0]


def register_invoices(session: Session, config: Any, archive: Any,
                      files: list[InvoiceFile], *, trust: Any = None
                      ) -> list[tuple[ReceivedInvoice, bool]]:
    """Store and verify invoice files; (record, created) for each, in order. The same bytes
    as an invoice already kept (or as an earlier file of the list) → (that record, False).

    Why a batch: a first sync registers thousands of invoices, and one at a time each cost
    five round trips (its file's hash, its insert, its supplier, two duplicate checks)
    through the ORM, a third of the classifying thread's time. Here the list's files are
    archived together, looked up in one query, inserted in one flush, and their suppliers
    and possible duplicates are fetched in one query each; the verdicts are the ones the
    files would get registered one after the other (an invoice is a duplicate of an
    *earlier* one, in the list or kept)."""
    if not files:
        return []
    blobs = [f.data for f in files] + [f.metadata[1] for f in files if f.metadata]
    digests = archive.put_many(blobs)
    meta_digests = iter(digests[len(files):])
    known = {inv.file_sha256: inv for inv in session.scalars(select(ReceivedInvoice).where(
        ReceivedInvoice.file_sha256.in_(set(digests[:len(files)]))))}
    out: list[tuple[ReceivedInvoice, bool]] = []
    new: list[tuple[ReceivedInvoice, Any, Any, str | None]] = []
    for f, digest in zip(files, digests, strict=False):
        meta_digest = next(meta_digests) if f.metadata else None
        if digest in known:
            out.append((known[digest], False))
            continue
        inv, doc, report, read_error = _new_record(f, digest, meta_digest, trust)
        known[digest] = inv
        new.append((inv, doc, report, read_error))
        out.append((inv, True))
    if new:
        # Ids drawn first (for more than one row: one is one statement anyway): then the
        # flush inserts the invoices, then their lines, in one statement each (`store.ids`).
        records = [inv for inv, *_ in new]
        lines = [line for inv in records for line in inv.lines]
        for rows, table in ((records, ReceivedInvoice.__table__),
                            (lines, InvoiceLine.__table__)):
            if len(rows) > 1:
                for row, id_ in zip(rows, reserve_ids(session, table, len(rows)), strict=True):
                    row.id = id_
        session.add_all(records)
        session.flush()
        lookups = Lookups.load(session, [inv for inv, *_ in new])
        for inv, doc, report, read_error in new:
            verdict = verify(session, config, inv, doc, report, read_error, lookups=lookups)
            inv.status, inv.reasons = verdict.status, verdict.reasons
    return out  # their events (received + verdict) are written by ingest/events.py


def _new_record(f: InvoiceFile, digest: str, meta_digest: str | None, trust: Any
                ) -> tuple[ReceivedInvoice, Any, Any, str | None]:
    """The record of a file not kept yet (not added to the session), with what was read."""
    inv = ReceivedInvoice(file_sha256=digest, file_name=f.file_name, size=len(f.data),
                          source=f.source, message_id=f.message_id,
                          source_path=f.source_path, status=REFUSED,
                          envelope_signature=_json_safe(f.envelope_signature))
    identificativo_sdi = f.identificativo_sdi
    if f.metadata is not None:
        meta_name, meta_bytes = f.metadata
        inv.metadata_file_name = meta_name
        inv.metadata_sha256 = meta_digest
        if identificativo_sdi is None:
            identificativo_sdi = _identificativo_from_metadata(meta_name, meta_bytes)
    inv.identificativo_sdi = identificativo_sdi
    report = f.report
    try:
        if report is None:
            report = read_report(f.data, f.file_name, trust)
    except Exception as exc:  # the reader promises not to raise; be safe anyway
        log.exception("invoice reader failed on %s", f.file_name)
        report = None
        read_error: str | None = f"{type(exc).__name__}: {exc}"
    else:
        read_error = None
    doc = getattr(report, "document", None)
    inv.readable = bool(getattr(report, "readable", False)) and doc is not None
    inv.valid = bool(getattr(report, "valid", False))
    if report is not None and hasattr(report, "to_json"):
        try:
            inv.report = _json_safe(report.to_json())
        except Exception:  # a report that cannot be shown is still a verdict
            inv.report = None
    inv.signature = _signature_json(report)
    if doc is not None:
        _fill_from_document(inv, doc)
    return inv, doc, report, read_error


def _identificativo_from_metadata(name: str, data: bytes) -> str | None:
    try:
        from wpec_invoicing.sdi import decode_notification

        return decode_notification(name, data).identificativo_sdi
    except Exception:  # unreadable metadata: the invoice is still kept
        return None


def _fill_from_document(inv: ReceivedInvoice, doc: Any) -> None:
    inv.version = getattr(doc, "format", None)
    inv.supplier_vat = _vat(doc.supplier)
    inv.supplier_fiscal_code = getattr(doc.supplier, "fiscal_code", None)
    inv.supplier_name = _name(doc.supplier)
    inv.customer_vat = _vat(doc.customer)
    inv.customer_fiscal_code = getattr(doc.customer, "fiscal_code", None)
    inv.customer_name = _name(doc.customer)
    bodies = list(doc.bodies or ())
    inv.bodies = len(bodies)
    if not bodies:
        return
    first = bodies[0]
    inv.document_type = first.document_type
    inv.number = (first.number or "")[:40] or None
    inv.invoice_date = first.date
    inv.currency = first.currency
    summaries = list(getattr(first, "vat_summary", ()) or ())
    if summaries:
        inv.taxable = sum((s.taxable for s in summaries), Decimal(0))
        inv.tax = sum((s.tax for s in summaries), Decimal(0))
    inv.total = first.total if first.total is not None else (
        inv.taxable + inv.tax if inv.taxable is not None and inv.tax is not None else None)
    for index, body in enumerate(bodies):
        for line in body.lines or ():
            inv.lines.append(InvoiceLine(
                body_index=index, line_number=line.number, description=line.description,
                quantity=line.quantity, unit_price=line.unit_price, total=line.total_price,
                vat_rate=line.vat_rate, natura=line.natura))


def verify(session: Session, config: Any, inv: ReceivedInvoice, doc: Any, report: Any,
           read_error: str | None = None, *, lookups: Lookups | None = None) -> Verdict:
    """The state of an invoice and why (see the module docstring). `lookups`: the registry
    and duplicate candidates already fetched for a batch that includes `inv`."""
    refuse: list[dict[str, str]] = []
    review: list[dict[str, str]] = []

    if doc is None or not inv.readable:
        problems = [c for c in _checks(report)][:3]
        text = read_error or "; ".join(f"{c['code']} {c['message']}" for c in problems)
        refuse.append({"code": "unreadable",
                       "message": f"the invoice cannot be read: {text or 'no FatturaPA found'}"})
        return Verdict(REFUSED, refuse)

    company = getattr(config, "company", None)
    if company is not None and (company.vat or company.fiscal_code):
        ours = (company.vat and inv.customer_vat == company.vat) or (
            company.fiscal_code and inv.customer_fiscal_code
            and inv.customer_fiscal_code.upper() == company.fiscal_code)
        if not ours:
            refuse.append({"code": "not-for-us", "message":
                           f"addressed to {inv.customer_vat or inv.customer_fiscal_code}, "
                           f"not to the company ({company.vat or company.fiscal_code})"})

    if lookups is None:
        lookups = Lookups.load(session, [inv])
    supplier = lookups.supplier(inv)
    who = inv.supplier_name or inv.supplier_vat or inv.supplier_fiscal_code
    if supplier is None:
        review.append({"code": "supplier-unknown",
                       "message": f"supplier {who} ({inv.supplier_vat}) is not in the registry"})
    elif supplier.status == "blocked":
        refuse.append({"code": "supplier-blocked",
                       "message": f"supplier {who} is blocked"
                       + (f": {supplier.note}" if supplier.note else "")})

    dup = lookups.duplicate(inv)
    if dup is not None:
        other_id, why = dup
        inv.duplicate_of = other_id
        refuse.append({"code": "duplicate", "message": f"duplicate of invoice #{other_id}: {why}"})

    if not inv.valid:
        errors = [c for c in _checks(report) if c.get("severity", "error") == "error"]
        codes = ", ".join(sorted({c["code"] for c in errors if c.get("code")})) or "invalid"
        review.append({"code": "invalid", "message": f"not valid FatturaPA ({codes})"})

    sig = inv.signature or {}
    if sig.get("present") and sig.get("intact") is False:
        review.append({"code": "signature-broken",
                       "message": f"the file's signature is not intact: {sig.get('reason')}"})
    review.extend(revocation_problems(sig))
    env = inv.envelope_signature or {}
    if env:
        if env.get("intact") is False or env.get("present") is False:
            review.append({"code": "envelope-signature",
                           "message": "the PEC envelope's signature is missing or broken"
                           + (f": {env.get('reason')}" if env.get("reason") else "")})
        elif env.get("trusted") is False:
            review.append({"code": "envelope-untrusted",
                           "message": "the PEC envelope was not signed by a trusted provider"
                           + (f": {env.get('reason')}" if env.get("reason") else "")})
        elif env.get("sdi_authentic") is False:
            review.append({"code": "not-from-sdi",
                           "message": "the message only looks like an SdI delivery"
                           + (f": {env['sdi_authentic_reason']}"
                              if env.get("sdi_authentic_reason") else "")})

    review.extend(totals_problems(doc))

    if refuse:
        return Verdict(REFUSED, refuse + review)
    if review:
        return Verdict(NEEDS_REVIEW, review)
    return Verdict(VERIFIED, [])


def revocation_problems(sig: dict) -> list[dict[str, str]]:
    """Review reasons from the signer's revocation status (issue 16): revoked before the
    signing time, or unknown under a hard-fail policy. Unknown under soft-fail is only shown
    in the signature report (a warning, not a reason to stop the invoice)."""
    rev = sig.get("revocation") or {}
    if rev.get("status") == "revoked" and not rev.get("after_signing"):
        return [{"code": "signer-revoked",
                 "message": f"the signer's certificate is revoked: {sig.get('reason')}"}]
    if rev.get("status") == "unknown" and rev.get("policy") == "hard-fail":
        return [{"code": "signer-revocation-unknown",
                 "message": "the signer's revocation status could not be checked (policy "
                            f"hard-fail): {rev.get('detail')}"}]
    return []


def _checks(report: Any) -> list[dict[str, Any]]:
    out = []
    for check in getattr(report, "checks", None) or ():
        if isinstance(check, dict):
            out.append(check)
        else:
            out.append({"code": getattr(check, "code", None),
                        "message": getattr(check, "message", str(check)),
                        "severity": str(getattr(check, "severity", "error") or "error")})
    return out


class Lookups:
    """What verifying a batch of invoices looks up, fetched in one query per kind: their
    suppliers in the registry and the invoices they may duplicate."""

    def __init__(self, suppliers: dict[tuple[str | None, str | None], Any],
                 by_ident: dict[str, list[int]],
                 by_key: dict[tuple[str, str | None, Any, Any], list[int]]) -> None:
        self._suppliers = suppliers
        self._by_ident = by_ident
        self._by_key = by_key

    @classmethod
    def load(cls, session: Session, invoices: list[ReceivedInvoice]) -> Lookups:
        suppliers = find_suppliers(session, [(inv.supplier_vat, inv.supplier_fiscal_code)
                                             for inv in invoices])
        by_ident: dict[str, list[int]] = {}
        idents = {inv.identificativo_sdi for inv in invoices if inv.identificativo_sdi}
        if idents:
            for row_id, ident in session.execute(
                    select(ReceivedInvoice.id, ReceivedInvoice.identificativo_sdi).where(
                        ReceivedInvoice.identificativo_sdi.in_(idents))):
                by_ident.setdefault(ident, []).append(row_id)
        by_key: dict[tuple[str, str | None, Any, Any], list[int]] = {}
        keyed = [inv for inv in invoices if _dup_key(inv) is not None]
        for column, field in ((ReceivedInvoice.supplier_vat, "vat"),
                              (ReceivedInvoice.supplier_fiscal_code, "cf")):
            wanted = {(key[1], inv.number, inv.invoice_date) for inv in keyed
                      if (key := _dup_key(inv)) is not None and key[0] == field}
            if not wanted:
                continue
            rows = session.execute(
                select(ReceivedInvoice.id, column, ReceivedInvoice.number,
                       ReceivedInvoice.invoice_date, ReceivedInvoice.document_type)
                .where(tuple_(column, ReceivedInvoice.number,
                              ReceivedInvoice.invoice_date).in_(wanted)))
            for row_id, who, number, day, doc_type in rows:
                by_key.setdefault((field, who, number, day, doc_type), []).append(row_id)
        return cls(suppliers, by_ident, by_key)

    def supplier(self, inv: ReceivedInvoice) -> Any:
        return self._suppliers.get((inv.supplier_vat, inv.supplier_fiscal_code))

    def duplicate(self, inv: ReceivedInvoice) -> tuple[int, str] | None:
        """The earliest invoice kept before `inv` that it duplicates, and why: the same
        IdentificativoSdI, else the same supplier, number, date and type. Only an earlier
        one: the first received stays the original, also when it is verified again."""
        if inv.identificativo_sdi:
            other = _earliest_before(self._by_ident.get(inv.identificativo_sdi), inv.id)
            if other is not None:
                return other, f"same IdentificativoSdI {inv.identificativo_sdi}"
        key = _dup_key(inv)
        if key is not None:
            other = _earliest_before(self._by_key.get(
                (*key, inv.number, inv.invoice_date, inv.document_type)), inv.id)
            if other is not None:
                return other, (f"same supplier, number {inv.number}, date {inv.invoice_date} "
                               f"and type {inv.document_type}")
        return None


def _dup_key(inv: ReceivedInvoice) -> tuple[str, str] | None:
    """Which supplier field identifies the invoice's supplier for the duplicate check."""
    if not (inv.number and inv.invoice_date):
        return None
    if inv.supplier_vat:
        return "vat", inv.supplier_vat
    if inv.supplier_fiscal_code:
        return "cf", inv.supplier_fiscal_code
    return None


def _earliest_before(ids: list[int] | None, own: int) -> int | None:
    earlier = [i for i in ids or () if i < own]
    return min(earlier) if earlier else None


def totals_problems(doc: Any) -> list[dict[str, str]]:
    """Lines ↔ VAT summary ↔ document total, per body (tolerances as SdI's)."""
    problems: list[dict[str, str]] = []
    for index, body in enumerate(doc.bodies or ()):
        label = f"body {index + 1} (number {body.number})"
        summaries = list(getattr(body, "vat_summary", ()) or ())
        if not summaries:  # simplified invoices (FSM10) carry no summary
            continue
        taxable = sum((s.taxable for s in summaries), Decimal(0))
        tax = sum((s.tax for s in summaries), Decimal(0))
        rounding = sum((s.rounding or Decimal(0) for s in summaries), Decimal(0))
        expenses = sum((s.expenses or Decimal(0) for s in summaries), Decimal(0))
        lines = sum((ln.total_price for ln in body.lines or ()), Decimal(0))
        funds = sum((f.amount for f in getattr(body, "pension_funds", ()) or ()), Decimal(0))
        if abs((lines + funds + expenses + rounding) - taxable) > LINE_TOLERANCE:
            problems.append({"code": "totals", "message":
                             f"{label}: lines total {lines + funds} but VAT summary taxable "
                             f"{taxable}"})
        for s in summaries:
            if s.rate and s.natura is None:
                expected = (s.taxable * s.rate / 100).quantize(CENT)
                if abs(expected - s.tax) > LINE_TOLERANCE:
                    problems.append({"code": "totals", "message":
                                     f"{label}: VAT at {s.rate}% on {s.taxable} should be "
                                     f"{expected}, summary says {s.tax}"})
        if body.total is not None:
            grand = taxable + tax + (body.rounding or Decimal(0))
            stamp = getattr(getattr(body, "stamp_duty", None), "amount", None) or Decimal(0)
            if abs(body.total - grand) > CENT and abs(body.total - grand - stamp) > CENT:
                problems.append({"code": "totals", "message":
                                 f"{label}: ImportoTotaleDocumento {body.total} but taxable + "
                                 f"VAT = {grand}"})
    return problems


def reverify(session: Session, config: Any, inv: ReceivedInvoice, trust: Any = None,
             archive: Any = None) -> Verdict:
    """Verify an invoice again (after the supplier registry changed)."""
    report = read_report(archive.get(inv.file_sha256), inv.file_name, trust) if archive else None
    doc = getattr(report, "document", None)
    before = inv.status
    verdict = verify(session, config, inv, doc, report)
    inv.status, inv.reasons = verdict.status, verdict.reasons
    if inv.status != before:
        invoice_event(session, inv, inv.status, previous=before)
    return verdict


def reverify_open(session: Session, config: Any, *, trust: Any = None,
                  archive: Any = None) -> int:
    """Verify again every invoice not yet verified (after the registry changed); returns how
    many changed state."""
    changed = 0
    rows = session.scalars(select(ReceivedInvoice).where(
        ReceivedInvoice.status.in_((NEEDS_REVIEW, REFUSED))).order_by(ReceivedInvoice.id))
    for inv in list(rows):
        before = inv.status
        reverify(session, config, inv, trust=trust, archive=archive)
        changed += inv.status != before
    return changed


def refresh_suppliers(config: Any, store: Any, *, trust: Any = None) -> tuple[Any, int] | None:
    """Load `suppliers_csv` from the config (an upsert: unchanged files change nothing) and
    re-verify open invoices when the registry changed. None when no file is configured."""
    from wpec_invoicing.rules.suppliers import load_suppliers_csv

    path = getattr(config, "suppliers_csv", None)
    if path is None:
        return None
    with store.session() as session:
        result = load_suppliers_csv(session, path)
    changed = 0
    if result.added or result.updated:
        with store.session() as session:
            changed = reverify_open(session, config, trust=trust, archive=store.archive)
    return result, changed
