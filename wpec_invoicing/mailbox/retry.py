"""Messages whose processing failed: list them, and process them again once the cause is fixed.

Nothing received is ever lost: a message that could not be classified or whose rules failed
(the archive unreadable at that moment, a bug since fixed, a message over the classification
limit) stays in the store with status "error" and the reason, and the batch went on. `retry`
puts such messages back to "archived" and runs exactly the processing a sync runs, with the
account each message was fetched from (the ingestion pipeline, `ingest.Pipeline`, from its
second stage on), so the server actions of its rules are queued for
that account as they would have been (the next sync carries them out).

The configuration (trust store included) is loaded before any status changes, so a retry
that cannot start leaves everything as it was. Should the process die between the two
steps, the messages are "archived" again: the next sync processes them (with that sync's
account). A message that fails again gets its new reason and stays "error".
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from wpec_invoicing.store.models import Message

RETRY_CHUNK = 200  # messages per transaction, as the sync processes them


@dataclass(frozen=True)
class FailedMessage:
    """One message in the store, as `wpec messages list` shows it."""

    id: int
    status: str
    kind: str | None
    subject: str | None
    sender: str | None
    first_seen_at: Any
    error: str | None
    accounts: tuple[str, ...]  # where it was fetched from (none for an imported file)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "status": self.status, "kind": self.kind, "subject": self.subject,
            "sender": self.sender, "first_seen_at": self.first_seen_at, "error": self.error,
            "accounts": list(self.accounts),
        }


@dataclass(frozen=True)
class RetryOutcome:
    """What a retry did to one message."""

    id: int
    ok: bool
    status: str
    error: str | None


def _describe(msg: Message) -> FailedMessage:
    return FailedMessage(
        id=msg.id, status=msg.status, kind=msg.kind, subject=msg.subject, sender=msg.sender,
        first_seen_at=msg.first_seen_at, error=msg.error,
        accounts=tuple(sorted({loc.account for loc in msg.locations})),
    )


def list_messages(store: Any, *, status: str | None = "error",
                  limit: int | None = None) -> list[FailedMessage]:
    """Messages with that status (every message for None), oldest first."""
    query = select(Message).options(selectinload(Message.locations)).order_by(Message.id)
    if status is not None:
        query = query.where(Message.status == status)
    if limit is not None:
        query = query.limit(limit)
    with store.session() as session:
        return [_describe(m) for m in session.scalars(query)]


def statuses(store: Any, message_ids: list[int]) -> dict[int, str]:
    """The status of each of these messages that exists."""
    with store.session() as session:
        return dict(session.execute(select(Message.id, Message.status)
                                    .where(Message.id.in_(message_ids))).all())


def retry_failed(store: Any, config: Any, message_ids: list[int] | None = None, *,
                 pipeline: Any = None) -> list[RetryOutcome]:
    """Process again the messages in "error" (all of them, or those of `message_ids` that
    are in "error"; others are left alone) and say how each one went."""
    from wpec_invoicing.ingest.pipeline import Pipeline

    # Everything that can refuse (the configuration, the trust store) before any status
    # changes: a retry that cannot run leaves the messages as they were, reasons included.
    pipeline = pipeline or Pipeline.for_config(config, store)
    accounts = {a.name: a for a in getattr(config, "accounts", [])}
    query = (select(Message).where(Message.status == "error")
             .options(selectinload(Message.locations)).order_by(Message.id))
    if message_ids is not None:
        query = query.where(Message.id.in_(message_ids))
    by_account: dict[str | None, list[int]] = defaultdict(list)
    with store.session() as session:
        for msg in session.scalars(query):
            fetched_by = sorted(loc.account for loc in msg.locations if not loc.gone)
            by_account[fetched_by[0] if fetched_by else None].append(msg.id)
            msg.status, msg.error, msg.processed_at = "archived", None, None
    if not by_account:
        return []
    for name, ids in by_account.items():
        account = accounts.get(name) if name is not None else None
        for start in range(0, len(ids), RETRY_CHUNK):
            pipeline.process_many(ids[start:start + RETRY_CHUNK], account=account)
    retried = sorted(i for ids in by_account.values() for i in ids)
    with store.session() as session:
        rows = session.execute(select(Message.id, Message.status, Message.error)
                               .where(Message.id.in_(retried)).order_by(Message.id)).all()
    return [RetryOutcome(id=i, ok=status != "error", status=status, error=error)
            for i, status, error in rows]
