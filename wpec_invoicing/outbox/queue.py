"""The persistent outbox: `Outbox.enqueue_*(...)`, `Outbox.run()`, `Outbox.status()`.

WHY validate everything before queuing anything: a batch handed over by the accounting software
is either taken as a whole or refused with reasons; half a batch in the queue is the worst case
for the operator (which half went?). Preparation (reading, validating, sizing, building bytes)
is pure and happens first; only when every item passed are they written, in one transaction,
with their Message-IDs, file names and progressivi.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wpec_invoicing.errors import WpecError
from wpec_invoicing.outbox.compose import build_message
from wpec_invoicing.outbox.records import (
    RunResult,
    account_state,
    add_event,
    aware,
    utcnow,
)
from wpec_invoicing.sdi.lifecycle import InvoiceState, invoice_base_name
from wpec_invoicing.store.db import Store
from wpec_invoicing.store.events import record_event
from wpec_invoicing.store.outbox_models import (
    OutboxAccount,
    OutboxAlert,
    OutboxCounter,
    OutboxItem,
)

SDI_MAX_FILE_BYTES = 5 * 1024 * 1024  # SdI check 00003
DEFAULT_SDI_ADDRESS = "sdi01@pec.fatturapa.it"
# Base64 grows attachments by 4/3 plus line breaks; the provider measures the encoded message.


class OutboxError(WpecError):
    """The outbox cannot do what was asked (bad account, nothing to send…)."""


class Refused(WpecError):
    """Some inputs were refused before queuing; nothing of the batch was queued."""

    exit_code = 1

    def __init__(self, refusals: list[Refusal]) -> None:
        self.refusals = refusals
        names = ", ".join(r.name for r in refusals[:5])
        more = f" and {len(refusals) - 5} more" if len(refusals) > 5 else ""
        super().__init__(f"{len(refusals)} item(s) refused, nothing queued: {names}{more}")


@dataclass
class Refusal:
    """Why one input was refused (with the FatturaPA report when it is an invoice)."""

    name: str
    reasons: list[str]
    report: Any = None  # fatturapa.InvoiceReport

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "reasons": self.reasons}
        if self.report is not None:
            data["report"] = self.report.to_json()
        return data


@dataclass
class Prepared:
    """One validated message, ready to be queued."""

    kind: str  # invoice | mail | auto-reply
    recipient: str
    subject: str
    body: str
    attachments: list[tuple[str, bytes]]
    file_name: str | None = None
    progressivo: str | None = None
    invoice_number: str | None = None
    document: dict | None = None
    to_sdi: bool = False
    dedup_key: str | None = None
    replaces_item_id: int | None = None
    name: str = ""


@dataclass
class QueuedItem:
    id: int
    message_id: str
    recipient: str
    file_name: str | None
    name: str


def allocate(session: Session, name: str) -> int:
    """Next value of a monotonic counter. The row lock taken by the UPDATE serialises
    concurrent allocators (SQLite: the write lock; PostgreSQL: the row lock) until commit."""
    for _ in range(5):
        result = session.execute(
            update(OutboxCounter).where(OutboxCounter.name == name)
            .values(value=OutboxCounter.value + 1)
        )
        if result.rowcount:
            return int(session.scalar(select(OutboxCounter.value)
                                      .where(OutboxCounter.name == name)))
        try:
            with session.begin_nested():
                session.add(OutboxCounter(name=name, value=1))
            return 1
        except IntegrityError:
            continue  # created meanwhile by another process: update it
    raise OutboxError(f"cannot allocate from counter {name}")


_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def progressivo_for(n: int) -> str:
    """Counter value → ProgressivoInvio: 5 chars [0-9A-Z] (60 million values per sender)."""
    if n < 0 or n >= 36**5:
        raise OutboxError("progressivo space exhausted")
    out = ""
    for _ in range(5):
        n, r = divmod(n, 36)
        out = _B36[r] + out
    return out


class Outbox:
    """The active side of one configuration: queue, send, follow."""

    def __init__(self, config: Any, store: Store | None = None) -> None:
        self.config = config
        self._store = store
        self._own_store = store is None

    @property
    def store(self) -> Store:
        """Opened on first use (a rule action queues through the caller's session instead)."""
        if self._store is None:
            self._store = Store.from_config(self.config)
        return self._store

    def close(self) -> None:
        if self._own_store and self._store is not None:
            self._store.close()
            self._store = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- settings ---------------------------------------------------------------------------
    def _outbox_option(self, name: str, default: Any) -> Any:
        value = getattr(self.config.outbox, name, None)
        if value is None:
            extra = getattr(self.config.outbox, "model_extra", None) or {}
            value = extra.get(name, default)
        return value

    @property
    def receipt_type(self) -> str:
        return str(self._outbox_option("receipt_type", "completa"))

    def account(self, name: str | None = None) -> Any:
        return self.config.account(name)

    def sdi_address(self, session: Session, account_name: str) -> str:
        state = session.get(OutboxAccount, account_name)
        if state is not None and state.sdi_address:
            return state.sdi_address
        return getattr(self.config.sdi, "address", None) or DEFAULT_SDI_ADDRESS

    # -- preparation (pure checks, nothing written) -----------------------------------------
    def prepare_invoice_file(self, data: bytes, file_name: str, *,
                             replaces_item_id: int | None = None,
                             validate: bool = True) -> Prepared | Refusal:
        """Validate a ready FatturaPA file (XML or p7m) for SdI, as `wpec invoice validate`.

        `validate=False` is for tests and the demo only (to provoke SdI rejections on
        purpose): the problems are kept in the item's summary instead of refusing it.
        """
        from wpec_invoicing.fatturapa import read_invoice

        reasons: list[str] = []
        if len(data) > SDI_MAX_FILE_BYTES:
            reasons.append(f"00003: file is {len(data)} bytes, SdI accepts at most "
                           f"{SDI_MAX_FILE_BYTES} (5 MB)")
        report = read_invoice(data, file_name=file_name, trust=None)
        if not report.readable:
            reasons.append(f"not readable: {report.error}")
        elif not report.valid:
            for err in report.schema_errors[:5]:
                reasons.append(f"00200: {err.message}")
            for check in report.checks:
                reasons.append(f"{check.code}: {check.message}")
            if not reasons:
                reasons.append("not valid")
        if reasons and validate:
            return Refusal(file_name, reasons, report)
        doc = report.document
        summary = _document_summary(doc) if doc is not None else {}
        if reasons:
            summary["unvalidated"] = reasons
        return Prepared(
            kind="invoice",
            recipient="",  # resolved to the SdI address at queue time
            subject=file_name,
            body=f"Invio file {file_name}",
            attachments=[(file_name, data)],
            file_name=file_name,
            progressivo=doc.transmission.progressivo if doc is not None else None,
            invoice_number=doc.bodies[0].number if doc is not None and doc.bodies else None,
            document=summary,
            to_sdi=True,
            replaces_item_id=replaces_item_id,
            name=file_name,
        )

    def prepare_mail(self, recipient: str, subject: str, body: str,
                     attachments: list[tuple[str, bytes]] | None = None, *, kind: str = "mail",
                     dedup_key: str | None = None, name: str | None = None) -> Prepared | Refusal:
        recipient = recipient.strip()
        reasons = []
        if not _looks_like_address(recipient):
            reasons.append(f"not one e-mail address: {recipient!r} (one recipient per message)")
        if not subject.strip():
            reasons.append("empty subject")
        if reasons:
            return Refusal(name or recipient, reasons)
        return Prepared(kind=kind, recipient=recipient, subject=subject, body=body,
                        attachments=list(attachments or []), dedup_key=dedup_key,
                        name=name or recipient)

    def _size_refusal(self, account: Any, prepared: Prepared, raw: bytes) -> Refusal | None:
        limit_mb = float(getattr(account.limits, "max_message_mb", 30) or 30)
        limit = int(limit_mb * 1024 * 1024)
        if len(raw) > limit:  # one recipient per message: size × recipients = size
            return Refusal(prepared.name, [
                f"message is {len(raw)} bytes, over the account limit of {limit_mb:g} MB "
                "(size × recipients)"])
        return None

    # -- queuing ----------------------------------------------------------------------------
    def enqueue(self, prepared: Iterable[Prepared | Refusal], *, account: str | None = None,
                session: Session | None = None) -> list[QueuedItem]:
        """Queue every prepared item in one transaction, or none of them (raises `Refused`)."""
        items = list(prepared)
        refusals = [p for p in items if isinstance(p, Refusal)]
        if refusals:
            raise Refused(refusals)
        acct = self.account(account)
        if session is not None:
            return self._enqueue(session, acct, items)  # type: ignore[arg-type]
        with self.store.session() as s:
            return self._enqueue(s, acct, items)  # type: ignore[arg-type]

    def _enqueue(self, session: Session, acct: Any, items: list[Prepared]) -> list[QueuedItem]:
        account_state(session, acct.name)
        built: list[tuple[Prepared, str, bytes]] = []
        refusals: list[Refusal] = []
        names_seen: set[str] = set()
        for p in items:
            recipient = self.sdi_address(session, acct.name) if p.to_sdi else p.recipient
            message_id, raw = build_message(
                sender=acct.address, recipient=recipient, subject=p.subject, body=p.body,
                attachments=p.attachments, receipt_type=self.receipt_type)
            refusal = self._size_refusal(acct, p, raw)
            if p.file_name:
                base = invoice_base_name(p.file_name)
                if base in names_seen or _file_name_used(session, p.file_name):
                    refusal = Refusal(p.name, [
                        f"00002: file name {p.file_name} was already sent (a file name is "
                        "never reused; send the corrected invoice under a new progressivo)"])
                names_seen.add(base)
            if refusal is not None:
                refusals.append(refusal)
            p.recipient = recipient
            built.append((p, message_id, raw))
        if refusals:
            raise Refused(refusals)
        out: list[QueuedItem] = []
        now = utcnow()
        for p, message_id, raw in built:
            item = OutboxItem(
                account=acct.name, kind=p.kind, sender=acct.address, recipient=p.recipient,
                to_sdi=p.to_sdi, subject=p.subject, message_id=message_id, raw=raw,
                size=len(raw), file_name=p.file_name, progressivo=p.progressivo,
                invoice_number=p.invoice_number, document=p.document, status="queued",
                attempts=0, sdi_state=InvoiceState.QUEUED.value if p.kind == "invoice" else None,
                dedup_key=p.dedup_key, replaces_item_id=p.replaces_item_id, created_at=now,
                updated_at=now, alerted_no_acceptance=False,
            )
            if p.kind == "invoice" and p.invoice_number and item.replaces_item_id is None:
                item.replaces_item_id = _rejected_predecessor(session, p)
            session.add(item)
            session.flush()
            add_event(session, item, "outbox", "queued",
                      f"to {p.recipient}, Message-ID {message_id}")
            if item.replaces_item_id:
                add_event(session, item, "outbox", "replaces",
                          f"corrected re-send of outbox item #{item.replaces_item_id}")
            out.append(QueuedItem(item.id, message_id, p.recipient, p.file_name, p.name))
        return out

    def create_invoices(self, records: list[Any], *, supplier: dict[str, Any] | None = None,
                        account: str | None = None, today: Any = None,
                        validate: bool = True) -> list[QueuedItem]:
        """Number, write, validate and queue invoices built from data records, all or none.

        Numbers and progressivi come from store counters inside this one transaction: when
        anything is refused the transaction rolls back and no number is consumed.
        """
        from datetime import date as _date

        from wpec_invoicing.fatturapa import invoice_file_name, write_invoice
        from wpec_invoicing.outbox.invoices import RecordError, build_document, supplier_party

        today = today or _date.today()
        acct = self.account(account)
        defaults = self._outbox_option("supplier", None) or {}
        refusals: list[Refusal] = []
        prepared: list[Prepared] = []
        try:
            party = supplier_party(self.config.company, supplier or {}, dict(defaults))
        except RecordError as exc:
            raise Refused([Refusal("supplier", [str(exc)])]) from None
        assert party.vat is not None
        fmt_number = str(self._outbox_option("invoice_number_format", "{n}/{year}"))
        with self.store.session() as s:
            for record in records:
                try:
                    year = today.year
                    given_date = record.data.get("date")
                    if given_date:
                        year = int(str(given_date)[:4]) if str(given_date)[:4].isdigit() \
                            else year
                    number = record.data.get("number")
                    if not number:
                        n = allocate(s, f"invoice-number:{year}")
                        number = fmt_number.format(n=n, year=year)
                    while True:
                        progressivo = progressivo_for(
                            allocate(s, f"progressivo:{party.vat.country}{party.vat.code}"))
                        file_name = invoice_file_name(party.vat.country, party.vat.code,
                                                      progressivo)
                        if not _file_name_used(s, file_name):
                            break
                    doc = build_document(record, supplier=party, number=str(number),
                                         progressivo=progressivo, today=today)
                    xml = write_invoice(doc)
                    if doc.format == "FPA12" or self._outbox_option("sign_all", False):
                        # PA invoices must be signed (CAdES-BES → .xml.p7m).
                        xml = self._signer().sign(xml)
                        file_name += ".p7m"
                except RecordError as exc:
                    refusals.append(Refusal(record.ref, [str(exc)]))
                    continue
                except (ValueError, TypeError) as exc:
                    refusals.append(Refusal(record.ref, [f"cannot write the invoice: {exc}"]))
                    continue
                result = self.prepare_invoice_file(xml, file_name, validate=validate)
                if isinstance(result, Refusal):
                    result.name = f"{record.ref} ({file_name})"
                    refusals.append(result)
                else:
                    result.name = f"{record.ref} ({file_name})"
                    prepared.append(result)
            if refusals:
                s.rollback()
                raise Refused(refusals)
            return self._enqueue(s, acct, prepared)

    def _signer(self) -> _InvoiceSigner:
        from wpec_invoicing.outbox.invoices import RecordError

        key_file = self._outbox_option("signing_key_file", None)
        cert_file = self._outbox_option("signing_cert_file", None)
        if not key_file or not cert_file:
            raise RecordError("FPA12 invoices must be signed: set signing_key_file and "
                              "signing_cert_file (PEM) in [outbox]")
        base = self.config.source.parent if self.config.source else None
        return _InvoiceSigner.load(key_file, cert_file, base)

    # -- running ----------------------------------------------------------------------------
    def run(self, *, until_empty: bool = False, account: str | None = None,
            max_seconds: float | None = None,
            progress: Callable[[int, int], None] | None = None) -> RunResult:
        """Send what is queued (see `outbox.sender`)."""
        from wpec_invoicing.outbox.sender import run_outbox

        return run_outbox(self, until_empty=until_empty, account=account,
                          max_seconds=max_seconds, progress=progress)

    # -- reporting --------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        from wpec_invoicing.outbox.correlate import check_overdue

        with self.store.session() as s:
            check_overdue(s, self.acceptance_timeout())
            by_status = dict(s.execute(
                select(OutboxItem.status, func.count()).group_by(OutboxItem.status)).all())
            by_provider = dict(s.execute(
                select(OutboxItem.provider_state, func.count())
                .where(OutboxItem.provider_state.is_not(None))
                .group_by(OutboxItem.provider_state)).all())
            by_sdi = dict(s.execute(
                select(OutboxItem.sdi_state, func.count())
                .where(OutboxItem.sdi_state.is_not(None))
                .group_by(OutboxItem.sdi_state)).all())
            accounts = [
                {"name": a.name, "sdi_address": a.sdi_address, "paused": a.paused,
                 "pause_reason": a.pause_reason}
                for a in s.scalars(select(OutboxAccount).order_by(OutboxAccount.name))
            ]
            alerts = [
                {"id": a.id, "kind": a.kind, "account": a.account, "item_id": a.item_id,
                 "message": a.message, "created_at": aware(a.created_at).isoformat()}
                for a in s.scalars(select(OutboxAlert).where(OutboxAlert.resolved_at.is_(None))
                                   .order_by(OutboxAlert.id))
            ]
        return {"items": sum(by_status.values()), "status": by_status,
                "provider": by_provider, "sdi": by_sdi, "accounts": accounts, "alerts": alerts}

    def acceptance_timeout(self) -> timedelta:
        minutes = float(self._outbox_option("acceptance_timeout_minutes", 30))
        return timedelta(minutes=minutes)

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every item sent under this file name (or base name, invoice number, Message-ID, id),
        each with its whole timeline."""
        with self.store.session() as s:
            items = find_items(s, name)
            return [item_json(item, with_events=True) for item in items]

    def resume_account(self, name: str) -> None:
        with self.store.session() as s:
            state = account_state(s, name)
            state.paused = False
            state.pause_reason = None
            record_event(s, "account.resumed", "account", name)
            for alert in s.scalars(select(OutboxAlert).where(
                    OutboxAlert.account == name, OutboxAlert.kind == "account-paused",
                    OutboxAlert.resolved_at.is_(None))):
                alert.resolved_at = utcnow()
                record_event(s, "alert.cleared", "alert", alert.id, {"kind": alert.kind})


@dataclass
class _InvoiceSigner:
    """The company's signing key and certificate (PEM files; the key file is a secret: keep
    it readable by this user only)."""

    key: Any
    cert: Any

    @classmethod
    def load(cls, key_file: str, cert_file: str, base: Any) -> _InvoiceSigner:
        from pathlib import Path

        from wpec_invoicing.cms.certs import load_pem_certificate, load_pem_key
        from wpec_invoicing.outbox.invoices import RecordError

        def path(value: str) -> Path:
            p = Path(value).expanduser()
            return p if p.is_absolute() or base is None else base / p

        try:
            key = load_pem_key(path(key_file).read_bytes())
            cert = load_pem_certificate(path(cert_file).read_bytes())
        except (OSError, ValueError) as exc:
            raise RecordError(f"cannot load the signing key/certificate: {exc}") from None
        return cls(key, cert)

    def sign(self, data: bytes) -> bytes:
        from wpec_invoicing.cms import sign_attached

        return sign_attached(data, self.key, self.cert)


def find_items(session: Session, name: str) -> list[OutboxItem]:
    name = name.strip()
    query = select(OutboxItem)
    if name.isdigit():
        found = session.get(OutboxItem, int(name))
        if found is not None:
            return [found]
    if name.startswith("<"):
        return list(session.scalars(query.where(OutboxItem.message_id == name)))
    base = invoice_base_name(name)
    rows = list(session.scalars(query.where(
        (OutboxItem.file_name == name) | (OutboxItem.file_name.like(f"{base}.%"))
        | (OutboxItem.invoice_number == name)).order_by(OutboxItem.id)))
    return [r for r in rows if r.file_name is None or invoice_base_name(r.file_name) == base
            or r.invoice_number == name]


def item_json(item: OutboxItem, *, with_events: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": item.id, "kind": item.kind, "account": item.account, "recipient": item.recipient,
        "subject": item.subject, "message_id": item.message_id, "file_name": item.file_name,
        "progressivo": item.progressivo, "invoice_number": item.invoice_number,
        "status": item.status, "attempts": item.attempts, "last_error": item.last_error,
        "provider_state": item.provider_state,
        "provider_identificativo": item.provider_identificativo,
        "provider_reason": item.provider_reason,
        "sdi_state": item.sdi_state, "identificativo_sdi": item.identificativo_sdi,
        "sdi_errors": item.sdi_errors, "document": item.document,
        "sent_at": _iso(item.sent_at), "created_at": _iso(item.created_at),
    }
    if with_events:
        data["events"] = [
            {"at": _iso(e.at), "source": e.source, "event": e.event, "detail": e.detail,
             "data": e.data, "message": e.message_id}
            for e in item.events
        ]
    return data


def _iso(value: datetime | None) -> str | None:
    value = aware(value)
    return value.isoformat() if value else None


def _file_name_used(session: Session, file_name: str) -> bool:
    base = invoice_base_name(file_name)
    rows = session.scalars(select(OutboxItem.file_name).where(
        OutboxItem.file_name.like(f"{base}.%") | (OutboxItem.file_name == file_name)))
    return any(invoice_base_name(r) == base for r in rows if r)


def _rejected_predecessor(session: Session, p: Prepared) -> int | None:
    """The latest rejected/failed send of the same invoice (number + date), if any: a
    corrected invoice goes out under a new file name and its history links the two."""
    same_date = (p.document or {}).get("date")
    for row in session.scalars(select(OutboxItem).where(
            OutboxItem.kind == "invoice", OutboxItem.invoice_number == p.invoice_number,
            OutboxItem.sdi_state.in_((InvoiceState.REJECTED.value,
                                      InvoiceState.NOT_ACCEPTED.value,
                                      InvoiceState.SEND_FAILED.value)),
    ).order_by(OutboxItem.id.desc())):
        if same_date is None or (row.document or {}).get("date") == same_date:
            return row.id
    return None


def _looks_like_address(value: str) -> bool:
    if any(c in value for c in ",; <>\t\r\n"):
        return False
    local, at, domain = value.partition("@")
    return bool(local and at and "." in domain and not domain.startswith("."))


def _document_summary(doc: Any) -> dict[str, Any]:
    body = doc.bodies[0] if doc.bodies else None
    customer = doc.customer
    cust_name = customer.company_name or " ".join(
        x for x in (customer.first_name, customer.last_name) if x) or None
    cust_vat = f"{customer.vat.country}{customer.vat.code}" if customer.vat else None
    return {
        "format": doc.format,
        "customer": cust_name,
        "customer_vat": cust_vat,
        "customer_fiscal_code": customer.fiscal_code,
        "codice_destinatario": doc.transmission.codice_destinatario,
        "number": body.number if body else None,
        "date": body.date.isoformat() if body else None,
        "document_type": body.document_type if body else None,
        "total": str(body.total) if body is not None and body.total is not None else None,
        "bodies": len(doc.bodies),
    }


def dedup_key(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(p.strip().lower() for p in parts).encode()).hexdigest()
