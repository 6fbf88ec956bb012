"""Idempotency keys: the same POST (same key, same body) gets the same response, once.

`begin` claims a key (a unique row per caller and key): the first request goes on and
`finish` stores its response; a repeat replays it; a concurrent duplicate waits for the first
to finish and then replays it (so two identical submissions never queue two invoices); the
same key with another body is a Conflict.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict

WAIT_FOR_FIRST_SECONDS = 60
KEEP_DAYS = 7


@dataclass(frozen=True)
class Stored:
    """A response to replay."""

    status: int
    content_type: str | None
    body: bytes


def begin(ctx: AppContext, actor: str, key: str, request_hash: str) -> Stored | None:
    """None: go on (and call `finish` or `abandon`); a Stored: replay it."""
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError

    from wpec_invoicing.store.app_models import IdempotencyKey, utcnow

    deadline = time.monotonic() + WAIT_FOR_FIRST_SECONDS
    while True:
        try:
            with ctx.session() as s:
                s.add(IdempotencyKey(actor=actor, key=key, request_hash=request_hash,
                                     state="pending", created_at=utcnow()))
            return None
        except IntegrityError:
            pass
        with ctx.session() as s:
            row = s.scalar(select(IdempotencyKey).where(IdempotencyKey.actor == actor,
                                                        IdempotencyKey.key == key))
            if row is None:
                continue  # the first attempt was abandoned meanwhile: claim it again
            if row.request_hash != request_hash:
                raise Conflict(f"Idempotency-Key {key!r} was used for another request")
            if row.state == "done":
                return Stored(row.status or 200, row.content_type, bytes(row.body or b""))
        if time.monotonic() > deadline:
            raise Conflict(f"Idempotency-Key {key!r}: the first request is still running")
        time.sleep(0.05)


def finish(ctx: AppContext, actor: str, key: str, stored: Stored) -> None:
    from sqlalchemy import delete, update

    from wpec_invoicing.store.app_models import IdempotencyKey, utcnow

    with ctx.session() as s:
        s.execute(update(IdempotencyKey).where(
            IdempotencyKey.actor == actor, IdempotencyKey.key == key).values(
            state="done", status=stored.status, content_type=stored.content_type,
            body=stored.body))
        # Keys are kept a week: long enough for any client's retries.
        s.execute(delete(IdempotencyKey).where(
            IdempotencyKey.created_at < utcnow() - timedelta(days=KEEP_DAYS)))


def abandon(ctx: AppContext, actor: str, key: str) -> None:
    """The first request failed in a way worth retrying (5xx, auth): free the key."""
    from sqlalchemy import delete

    from wpec_invoicing.store.app_models import IdempotencyKey

    with ctx.session() as s:
        s.execute(delete(IdempotencyKey).where(IdempotencyKey.actor == actor,
                                               IdempotencyKey.key == key,
                                               IdempotencyKey.state == "pending"))
