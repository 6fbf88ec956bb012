"""Housekeeping and mailbox-lifecycle tables (migration `0004_housekeeping`).

WHY these shapes:
- `QuotaSample` is a time series (one row per reading), so a trend ("the box fills 2% a
  week") can be shown and alerts raised and cleared on thresholds without losing history.
- `MessageHold` is its own table: a hold is a decision about a message, kept with who and why,
  and housekeeping must never delete a held message whatever its kind or age.
- `Deletion` is the audit of every server deletion, written as `pending` *before* the server
  is touched and marked `done` after UID EXPUNGE: a crash in between leaves a pending row the
  next run settles (the server still has it, or it went after a re-verified archive copy).
  It keeps the message's flags and internal date so `restore` can put it back as it was.
- `AccountLifecycle` (+ `AccountLifecycleEvent`, `AccountNotice`) is where each mailbox stands
  in the provider's soft-closure procedure, its history, and every notice sent with its outcome.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from wpec_invoicing.store.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class QuotaSample(Base):
    """One reading of an account's usage: from the server (RFC 9208) or estimated from sizes."""

    __tablename__ = "quota_samples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    used_bytes: Mapped[int] = mapped_column(BigInteger)
    limit_bytes: Mapped[int | None] = mapped_column(BigInteger)
    messages: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(16))  # server | estimate


class MessageHold(Base):
    """A message that housekeeping must keep on the server whatever the policy says."""

    __tablename__ = "message_holds"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Deletion(Base):
    """One server copy deleted by housekeeping (or about to be: status `pending`)."""

    __tablename__ = "housekeeping_deletions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | done | undone
    account: Mapped[str] = mapped_column(String(200), index=True)
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    location_id: Mapped[int | None] = mapped_column(
        ForeignKey("message_locations.id", ondelete="SET NULL"), index=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    header_message_id: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    policy: Mapped[str] = mapped_column(String(200))  # e.g. "retention: receipts 30 d"
    flags: Mapped[list | None] = mapped_column(JSON)
    internal_date: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AccountLifecycle(Base):
    """Where one mailbox stands: active (until `expires_on`), suspended, deactivated, purged."""

    __tablename__ = "account_lifecycle"

    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    expires_on: Mapped[date | None] = mapped_column(Date)
    state_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AccountLifecycleEvent(Base):
    """One transition of a mailbox's lifecycle, with why (the history `accounts show` prints)."""

    __tablename__ = "account_lifecycle_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(200), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(40))  # expired, renewed, recovered, ...
    detail: Mapped[str | None] = mapped_column(Text)


class AccountNotice(Base):
    """A notice to the holder on one channel (pec | email): sent once per key, outcome kept."""

    __tablename__ = "account_notices"
    __table_args__ = (UniqueConstraint("account", "key", "channel"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account: Mapped[str] = mapped_column(String(200), index=True)
    key: Mapped[str] = mapped_column(String(120))  # expiry-30:2027-01-31, state-suspended:...
    channel: Mapped[str] = mapped_column(String(8))
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # queued | sent | failed | skipped
    detail: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
