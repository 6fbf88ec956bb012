"""Events: what happened, for integrators, as one stream they follow with `after=ID`.

`record_event(session, ...)` (in `store/events.py`, so services can call it) is called in
the transaction of the change it describes, one line per state-change point, and it makes ids
commit in increasing order: `after=ID` is a complete cursor, also on PostgreSQL with
concurrent writers (see there why and how).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.app.models import (
    Model,
    check_limit,
    fetch_rows_async,
    read_as,
    read_as_async,
    rows_json,
)
from wpec_invoicing.app.timefmt import Aware
from wpec_invoicing.store.events import record_event

__all__ = ["EventOut", "EventPage", "EventsJson", "follow", "list_events", "list_events_json",
           "record_event", "wait_events"]

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
    shape, params = _list_params(after=after, limit=limit, types=types,
                                 subject_type=subject_type, subject_id=subject_id)
    rows = read_as(ctx, EventOut, _list_statement(shape), params)
    return EventPage(items=rows, last_id=rows[-1].id if rows else after)


async def list_events_async(ctx: AppContext, *, after: int = 0, limit: int = 100,
                            types: list[str] | None = None, subject_type: str | None = None,
                            subject_id: str | None = None) -> EventPage:
    """`list_events` for an asyncio server (the REST API's long poll and stream): the same
    page, read without leaving the event loop on PostgreSQL (`read_as_async`)."""
    shape, params = _list_params(after=after, limit=limit, types=types,
                                 subject_type=subject_type, subject_id=subject_id)
    rows = await read_as_async(ctx, EventOut, _list_statement(shape), params)
    return EventPage(items=rows, last_id=rows[-1].id if rows else after)


@dataclass(frozen=True)
class EventsJson:
    """A page of events already serialised: `body` is the JSON `EventPage.model_dump_json`
    writes for it (the same bytes), `count` how many events it holds."""

    body: bytes
    count: int


async def list_events_json(ctx: AppContext, *, after: int = 0, limit: int = 100,
                           types: list[str] | None = None) -> EventsJson:
    """`list_events_async` as the JSON of its `EventPage`, for the REST API.

    Why: a page of 100 events validated into models and dumped again cost more than its
    query; on PostgreSQL the rows are written straight to JSON (`rows_json`, the bytes
    the models give: property tests). On SQLite the page goes through the models."""
    if not ctx.reads_async:
        page = await list_events_async(ctx, after=after, limit=limit, types=types)
        return EventsJson(page.model_dump_json().encode(), len(page.items))
    shape, params = _list_params(after=after, limit=limit, types=types, subject_type=None,
                                 subject_id=None)
    keys, rows = await fetch_rows_async(ctx, _list_statement(shape), params)
    last = rows[-1][keys.index("id")] if rows else after
    return EventsJson(b'{"items":' + rows_json(EventOut, keys, rows)
                      + b',"last_id":' + str(int(last)).encode() + b"}", len(rows))


MAX_TYPES = 50


def _list_params(*, after: int, limit: int, types: list[str] | None,
                 subject_type: str | None, subject_id: str | None
                 ) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The filters checked, as a statement shape (which filters are on; each type a prefix
    or an exact name) and its values."""
    check_limit(limit)
    wanted = sorted(set(types or ()))
    if len(wanted) > MAX_TYPES:
        raise InvalidRequest(f"at most {MAX_TYPES} types at once, not {len(wanted)}")
    params: dict[str, Any] = {"after": after, "limit": limit}
    for i, name in enumerate(wanted):
        # A prefix matches with LIKE: its own % and _ must stay literal.
        params[f"{'prefix' if name.endswith('.') else 'type'}{i}"] = (
            _escape_like(name) + "%" if name.endswith(".") else name)
    if subject_type:
        params["subject_type"] = subject_type
    if subject_id:
        params["subject_id"] = subject_id
    return tuple(sorted(params)), params


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@lru_cache(maxsize=512)
def _list_statement(shape: tuple[str, ...]) -> Any:
    """One statement per combination of filters, values bound by name: built and compiled
    once. Columns, not ORM entities: a page of 100 events is read often and hydrating
    objects costs more than the query itself."""
    from sqlalchemy import bindparam, or_, select

    from wpec_invoicing.store.app_models import Event

    query = (select(Event.id, Event.type, Event.at, Event.subject_type, Event.subject_id,
                    Event.payload).where(Event.id > bindparam("after")).order_by(Event.id)
             .limit(bindparam("limit")))
    conds = [Event.type.like(bindparam(name), escape="\\") if name.startswith("prefix")
             else Event.type == bindparam(name)
             for name in shape if name.startswith(("prefix", "type"))]
    if conds:
        query = query.where(or_(*conds))
    if "subject_type" in shape:
        query = query.where(Event.subject_type == bindparam("subject_type"))
    if "subject_id" in shape:
        query = query.where(Event.subject_id == bindparam("subject_id"))
    return query


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
