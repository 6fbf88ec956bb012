"""The mailbox lifecycle as a pure state machine (no clock of its own: `now` is passed in).

    active (until expires_on) --expiry / soft close--> suspended (30 days: read-only)
    suspended --renewal within the 30 days--> active ("recovered")
    suspended --30 days pass--> deactivated (no access; the provider keeps the mail 180 days)
    active | suspended --deactivate--> deactivated
    deactivated --signed activation request within the 180 days--> active ("reactivated")
    deactivated --180 days pass--> purged (final: our archive is the only copy left)

Every operation first lets time do its work (`advance`), so "recover after 30 days" meets a
deactivated box and is refused with the reason, as the provider would refuse it. Time-driven
transitions are dated when they happened (the expiry day, 30 days after suspension...), not
when someone looked, so a box checked late still has an honest history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum


class State(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEACTIVATED = "deactivated"
    PURGED = "purged"


class IllegalTransition(Exception):
    """The operation is not allowed in the box's state (the message says why and what to do)."""


@dataclass(frozen=True)
class Timings:
    suspension_days: int = 30
    retention_days: int = 180


DEFAULT_TIMINGS = Timings()

@dataclass(frozen=True)
class Lifecycle:
    state: State
    expires_on: date | None
    since: datetime  # when the box entered `state`

    def deadline(self, timings: Timings) -> datetime | None:
        """When time moves the box on by itself (None: never, or only by expiry date)."""
        if self.state is State.ACTIVE:
            return _midnight(self.expires_on) if self.expires_on else None
        if self.state is State.SUSPENDED:
            return self.since + timedelta(days=timings.suspension_days)
        if self.state is State.DEACTIVATED:
            return self.since + timedelta(days=timings.retention_days)
        return None

    def days_left(self, now: datetime, timings: Timings) -> int | None:
        end = self.deadline(timings)
        if end is None:
            return None
        return max(0, (end - now).days + (1 if (end - now).seconds else 0))


@dataclass(frozen=True)
class Event:
    at: datetime
    from_state: State | None
    to_state: State
    event: str  # expired, soft-closed, renewed, recovered, deactivated, reactivated, purged
    detail: str | None = None


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


def advance(lc: Lifecycle, now: datetime, timings: Timings = DEFAULT_TIMINGS
            ) -> tuple[Lifecycle, list[Event]]:
    """Apply every transition time has caused up to `now`."""
    events: list[Event] = []
    while True:
        end = lc.deadline(timings)
        if end is None or now < end:
            return lc, events
        if lc.state is State.ACTIVE:
            nxt, name, detail = State.SUSPENDED, "expired", f"contract expired on {lc.expires_on}"
        elif lc.state is State.SUSPENDED:
            nxt, name, detail = (State.DEACTIVATED, "deactivated",
                                 f"not renewed within {timings.suspension_days} days")
        else:
            nxt, name, detail = (State.PURGED, "purged",
                                 f"no reactivation within {timings.retention_days} days: the "
                                 "provider deleted the mail; the archive is the only copy")
        events.append(Event(end, lc.state, nxt, name, detail))
        lc = Lifecycle(nxt, lc.expires_on, end)


def _require_future(until: date, now: datetime) -> None:
    if until <= now.date():
        raise IllegalTransition(f"the new expiry {until} is not after today ({now.date()})")


def renew(lc: Lifecycle, until: date, now: datetime, timings: Timings = DEFAULT_TIMINGS
          ) -> tuple[Lifecycle, list[Event]]:
    """A renewed contract: an active box gets the new expiry; a suspended one is recovered."""
    lc, events = advance(lc, now, timings)
    _require_future(until, now)
    if lc.state is State.ACTIVE:
        return replace(lc, expires_on=until), [
            *events, Event(now, lc.state, lc.state, "renewed", f"expires on {until}")]
    if lc.state is State.SUSPENDED:
        return Lifecycle(State.ACTIVE, until, now), [
            *events, Event(now, lc.state, State.ACTIVE, "recovered",
                           f"renewed until {until} within the suspension")]
    raise IllegalTransition(_closed_reason(lc, "renewed", timings))


def suspend(lc: Lifecycle, now: datetime, timings: Timings = DEFAULT_TIMINGS
            ) -> tuple[Lifecycle, list[Event]]:
    """A soft close asked by the holder (or seen at the provider): read-only for 30 days."""
    lc, events = advance(lc, now, timings)
    if lc.state is not State.ACTIVE:
        raise IllegalTransition(f"the box is {lc.state}, not active: it cannot be suspended")
    return Lifecycle(State.SUSPENDED, lc.expires_on, now), [
        *events, Event(now, State.ACTIVE, State.SUSPENDED, "soft-closed", "suspended")]


def recover(lc: Lifecycle, now: datetime, timings: Timings = DEFAULT_TIMINGS
            ) -> tuple[Lifecycle, list[Event]]:
    """Back to active within the suspension, when the contract still runs."""
    lc, events = advance(lc, now, timings)
    if lc.state is not State.SUSPENDED:
        if lc.state is State.ACTIVE:
            raise IllegalTransition("the box is active: nothing to recover")
        raise IllegalTransition(_closed_reason(lc, "recovered", timings))
    if lc.expires_on is not None and lc.expires_on <= now.date():
        raise IllegalTransition(f"the contract expired on {lc.expires_on}: renew it "
                                "(accounts renew NAME --until DATE), which recovers the box")
    return Lifecycle(State.ACTIVE, lc.expires_on, now), [
        *events, Event(now, State.SUSPENDED, State.ACTIVE, "recovered", None)]


def deactivate(lc: Lifecycle, now: datetime, timings: Timings = DEFAULT_TIMINGS
               ) -> tuple[Lifecycle, list[Event]]:
    lc, events = advance(lc, now, timings)
    if lc.state not in (State.ACTIVE, State.SUSPENDED):
        raise IllegalTransition(f"the box is already {lc.state}")
    return Lifecycle(State.DEACTIVATED, lc.expires_on, now), [
        *events, Event(now, lc.state, State.DEACTIVATED, "deactivated", "closed on request")]


def reactivate(lc: Lifecycle, now: datetime, until: date, request_ok: bool,
               request_reason: str | None = None, timings: Timings = DEFAULT_TIMINGS
               ) -> tuple[Lifecycle, list[Event]]:
    """Back to active from deactivated, only within the 180 days and only on a verified,
    signed request (`request_ok`, checked by `request.check_request`)."""
    lc, events = advance(lc, now, timings)
    if lc.state is not State.DEACTIVATED:
        if lc.state is State.PURGED:
            raise IllegalTransition(_closed_reason(lc, "reactivated", timings))
        raise IllegalTransition(f"the box is {lc.state}, not deactivated: "
                                + ("use recover or renew" if lc.state is State.SUSPENDED
                                   else "nothing to reactivate"))
    if not request_ok:
        raise IllegalTransition(f"reactivation request refused: {request_reason}")
    _require_future(until, now)
    return Lifecycle(State.ACTIVE, until, now), [
        *events, Event(now, State.DEACTIVATED, State.ACTIVE, "reactivated",
                       f"signed request accepted; expires on {until}")]


def _closed_reason(lc: Lifecycle, verb: str, timings: Timings) -> str:
    if lc.state is State.DEACTIVATED:
        return (f"the box was deactivated on {lc.since.date()} (more than "
                f"{timings.suspension_days} days after suspension): it can only be "
                f"reactivated with a signed request (accounts reactivate NAME --request "
                f"FILE.p7m), not {verb}")
    return (f"the box was purged on {lc.since.date()} ({timings.retention_days} days after "
            f"deactivation): it cannot be {verb}; open a new mailbox")
