"""The outbox tables (migration `0002_outbox`): items, counters, timeline, account state, alerts.

WHY these shapes:
- One `OutboxItem` is one message to ONE recipient (PEC refuses Bcc and gives full receipts
  only to To: recipients), stored as the exact bytes that go on the wire, with its Message-ID
  and (for invoices) file name and progressivo allocated and committed before any SMTP call.
  Sending the same bytes again after a crash cannot create a second *different* message, and
  the receipts that reference that Message-ID tell whether the first attempt went through.
- `OutboxCounter` hands out progressivi and invoice numbers; a value once handed out is never
  handed out again, even when the item that took it is later refused or fails (SdI check 00002).
- `OutboxEvent` is the timeline `wpec invoice history` prints: every state change with its
  source (outbox, provider receipt, SdI notification) and the stored message that caused it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from wpec_invoicing.store.db import Base, utcnow


class OutboxItem(Base):
    """One message to one recipient, from one account."""

    __tablename__ = "outbox_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # invoice | mail | auto-reply
    sender: Mapped[str] = mapped_column(String(320))
    recipient: Mapped[str] = mapped_column(String(320))
    to_sdi: Mapped[bool] = mapped_column(Boolean, default=False)  # recipient follows learning
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(250), unique=True)  # with angle brackets
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    size: Mapped[int] = mapped_column(BigInteger)
    # Invoices: the file name sent (unique: a name once used is never used again) and numbers.
    file_name: Mapped[str | None] = mapped_column(String(120), unique=True)
    progressivo: Mapped[str | None] = mapped_column(String(5))
    invoice_number: Mapped[str | None] = mapped_column(String(40))
    document: Mapped[dict | None] = mapped_column(JSON)  # short summary: customer, total, date
    # Queue processing: queued → sending → sent | failed (| cancelled).
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Provider level: accepted | not-accepted | delivered | delivery-failed | preavviso
    provider_state: Mapped[str | None] = mapped_column(String(24), index=True)
    provider_identificativo: Mapped[str | None] = mapped_column(String(250), index=True)
    provider_reason: Mapped[str | None] = mapped_column(Text)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # SdI level (invoices): a `sdi.lifecycle.InvoiceState` value, SdI's id, its error list.
    sdi_state: Mapped[str | None] = mapped_column(String(24), index=True)
    identificativo_sdi: Mapped[str | None] = mapped_column(String(64), index=True)
    sdi_errors: Mapped[list | None] = mapped_column(JSON)
    replaces_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_items.id", ondelete="SET NULL"))
    dedup_key: Mapped[str | None] = mapped_column(String(64), index=True)  # auto-replies
    alerted_no_acceptance: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow,
                                                 onupdate=utcnow)

    events: Mapped[list[OutboxEvent]] = relationship(
        back_populates="item", cascade="all, delete-orphan", order_by="OutboxEvent.id")


class OutboxEvent(Base):
    """One entry of an item's timeline."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("outbox_items.id", ondelete="CASCADE"),
                                         index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # outbox | provider | sdi
    event: Mapped[str] = mapped_column(String(40))  # queued, attempt, sent, accettazione, RC…
    detail: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict | None] = mapped_column(JSON)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL"))  # the stored receipt/notification

    item: Mapped[OutboxItem] = relationship(back_populates="events")


class OutboxCounter(Base):
    """Monotonic counters (progressivo per transmitter, invoice number per year and series)."""

    __tablename__ = "outbox_counters"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class OutboxAccount(Base):
    """What the outbox learned or decided about an account."""

    __tablename__ = "outbox_accounts"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    sdi_address: Mapped[str | None] = mapped_column(String(320))  # learned sdiNN@...
    sdi_address_learned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    paused_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class OutboxAlert(Base):
    """Something an operator must look at (account paused, no acceptance in time…)."""

    __tablename__ = "outbox_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str | None] = mapped_column(String(200), index=True)
    item_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbox_items.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))  # account-paused | no-acceptance | …
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
