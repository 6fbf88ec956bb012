"""The application layer's tables (migration `0003_app`): events, API tokens, the audit log,
idempotency keys, review decisions on received invoices, and mailings.

Why an `events` table of its own (and not the outbox timeline): an integrator follows ONE
stream, `events?after=ID`, for everything that matters to it (received invoices, sent
invoices, mailings, alerts, accounts), and must never miss a row. Events are written in the
same transaction as the change they describe; `app.events.record_event` makes their ids
commit in increasing order (see there), so "after the last id I saw" is a complete cursor.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from wpec_invoicing.store.db import Base

# SQLite makes only an INTEGER PRIMARY KEY an alias of its rowid (auto-increment).
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(Base):
    """Something that happened, for integrators: type, time, subject, small payload."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(60), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    subject_type: Mapped[str] = mapped_column(String(30))
    subject_id: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict | None] = mapped_column(JSON)


class ApiToken(Base):
    """An API token: only the sha256 of the secret is stored (the secret is shown once)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # viewer | integrator | operator | admin
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))  # the first characters, to recognise it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_from: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Who did what, when, from where, with which result (every mutating call)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))  # token:NAME, cli:USER
    action: Mapped[str] = mapped_column(String(200))  # POST /api/v1/invoices/sent, token.create
    target: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(40))  # HTTP status or ok / error
    detail: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    """A POST's Idempotency-Key: the request's hash and, once done, the response to replay."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("actor", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(12), default="pending")  # pending | done
    status: Mapped[int | None] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)


class InvoiceReview(Base):
    """An operator's decision on a received invoice (approve / refuse) and why."""

    __tablename__ = "invoice_reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("received_invoices.id", ondelete="CASCADE"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # approved | refused
    reason: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Mailing(Base):
    """A mass sending started as one request: one outbox item per recipient."""

    __tablename__ = "mailings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MailingItem(Base):
    """Which outbox item belongs to which mailing."""

    __tablename__ = "mailing_items"

    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailings.id", ondelete="CASCADE"),
                                            primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("outbox_items.id", ondelete="CASCADE"),
                                         primary_key=True, index=True)


def _listing_indexes() -> None:
    """Keyset listings of the API on core tables (created by `0003_app` too)."""
    from wpec_invoicing.store.models import Message, ReceivedInvoice

    Index("ix_messages_first_seen", Message.first_seen_at, Message.id)
    Index("ix_received_invoices_date", ReceivedInvoice.invoice_date, ReceivedInvoice.id)


_listing_indexes()


class EventCursor(Base):
    """How far a consumer of the event stream got (an event webhook): the last event id it
    has delivered. Advanced only after a delivery succeeded, in order."""

    __tablename__ = "event_cursors"

    consumer: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
