"""Events: what happened, for integrators, as one stream they follow with `after=ID`.

`record_event(session, ...)` (in `store/events.py`, so services can call it) is called in
the transaction of the change it describes, one line per state-change point, and it makes ids
commit in increasing order: `after=ID` is a complete cursor, also on PostgreSQL with
concurrent writers (see there why and how).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.models import Model, check_limit, rows_as
from wpec_invoicing.app.timefmt import Aware
from wpec_invoicing.store.events import record_event

__all__ = ["EventOut", "EventPage", "follow", "list_events", "record_event", "wait_events"]

MAX_WAIT_SECONDS = 60
POLL_SECONDS = 0.25


class EventOut(Model):
    """One event: id (monotonically increasing), type, time, subject, small payload."""

    id: int
    type: str
    at: Aware
    subject_type: str
    subject_id: str
    payload: dict[str, Any] | None = None


class EventPage(Model):
    """Events after a cursor, and the cursor to ask with next (`after`)."""

    items: list[EventOut]
    last_id: int


def list_events(ctx: AppContext, *, after: int = 0, limit: int = 100,
                types: list[str] | None = None, subject_type: str | None = None,
                subject_id: str | None = None) -> EventPage:
    """Events with id > `after`, oldest first. `types` matches a type or a prefix ending
    in "." (`invoice.` is every received-invoice event)."""
    from sqlalchemy import or_, select

    from wpec_invoicing.store.app_models import Event

    check_limit(limit)
    # Columns, not ORM entities: a page of 100 events is read often and hydrating objects
    # costs more than the query itself.
    query = (select(Event.id, Event.type, Event.at, Event.subject_type, Event.subject_id,
                    Event.payload).where(Event.id > after).order_by(Event.id).limit(limit))
    if types:
        conds = [Event.type.startswith(t) if t.endswith(".") else Event.type == t
                 for t in types]
        query = query.where(or_(*conds))
    if subject_type:
        query = query.where(Event.subject_type == subject_type)
    if subject_id:
        query = query.where(Event.subject_id == subject_id)
    with ctx.read_connection() as conn:
        rows = rows_as(EventOut, conn.execute(query))
    return EventPage(items=rows, last_id=rows[-1].id if rows else after)


def wait_events(ctx: AppContext, *, after: int = 0, wait: float = 0, limit: int = 100,
                types: list[str] | None = None, should_stop: Any = None) -> EventPage:
    """Like `list_events`, but when nothing is there yet, wait up to `wait` seconds for it
    (a long poll). `should_stop()` ends the wait early (a client that went away)."""
    wait = max(0.0, min(float(wait), MAX_WAIT_SECONDS))
    deadline = time.monotonic() + wait
    while True:
        page = list_events(ctx, after=after, limit=limit, types=types)
        if page.items or time.monotonic() >= deadline or (should_stop and should_stop()):
            return page
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def follow(ctx: AppContext, *, after: int = 0, types: list[str] | None = None,
           poll: float = 1.0, should_stop: Any = None) -> Iterator[EventOut]:
    """Every event after `after`, then each new one as it commits (until `should_stop()`)."""
    while not (should_stop and should_stop()):
        page = list_events(ctx, after=after, limit=500, types=types)
        yield from page.items
        after = page.last_id
        if not page.items:
            time.sleep(poll)


def last_event_id(ctx: AppContext) -> int:
    from sqlalchemy import func, select

    from wpec_invoicing.store.app_models import Event

    with ctx.session() as s:
        return int(s.scalar(select(func.max(Event.id))) or 0)
