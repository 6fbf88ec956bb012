"""Tables of the job queue's own state (migration `0008_jobs`).

WHY: with several workers (on several machines) sending for one account, the account's rate
limit and its adaptive back-off must be ONE state, not one per process: three workers each
holding a full token bucket would show the provider three times the allowed rate. So the
outbox's limiter keeps its state here, in one row per account, read and written under a row
lock (`SELECT ... FOR UPDATE` on PostgreSQL, the write lock on SQLite).

The queue itself (jobs, workers, heartbeats, periodic defers) is procrastinate's schema,
created by the same migration on PostgreSQL; it is not mapped here.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String
from sqlalchemy.orm import Mapped, mapped_column

from wpec_invoicing.store.db import Base, utcnow


class OutboxRateState(Base):
    """The shared token bucket + AIMD state of one sending account (`outbox.ratelimit`)."""

    __tablename__ = "outbox_rate_state"

    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[dict] = mapped_column(JSON, nullable=False, default=dict)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False,
                                                 default=utcnow)
