"""The outbox's records: the helpers every outbox module writes its rows with.

Why a module of its own: the queue (`queue.Outbox`) drives the sender and the correlation of
receipts, and both write events, alerts and account states. With these helpers here, the
sender and the correlator import them from below instead of from the queue that imports them
(no import cycle). May import: `store`, the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wpec_invoicing.store.alerts import raise_alert  # noqa: F401 (re-exported)
from wpec_invoicing.store.db import utcnow
from wpec_invoicing.store.events import outbox_event
from wpec_invoicing.store.outbox_models import OutboxAccount, OutboxEvent, OutboxItem

ACTIVE_STATUSES = ("queued", "sending", "verify", "checking")


@dataclass
class RunResult:
    """What one `Outbox.run()` did."""

    sent: int = 0
    failed: int = 0
    retried: int = 0
    throttled: int = 0
    recovered: int = 0
    remaining: int = 0
    paused_accounts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back; everything we write is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def add_event(session: Session, item: OutboxItem, source: str, event: str,
              detail: str | None = None, *, data: dict | None = None,
              message_id: int | None = None) -> None:
    session.add(OutboxEvent(item_id=item.id, source=source, event=event, detail=detail,
                            data=data, message_id=message_id, at=utcnow()))
    outbox_event(session, item, source, event, detail, data)


def account_state(session: Session, name: str) -> OutboxAccount:
    state = session.get(OutboxAccount, name)
    if state is None:
        try:
            with session.begin_nested():
                state = OutboxAccount(name=name, paused=False)
                session.add(state)
        except IntegrityError:
            state = session.get(OutboxAccount, name)
    assert state is not None
    return state


