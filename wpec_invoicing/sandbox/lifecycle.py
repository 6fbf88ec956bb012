"""The sandbox provider's mailbox lifecycle: the soft-closure procedure enforced on its boxes,
with a clock of its own, so the product is tested against a server that behaves like a real
provider's.

    suspended    IMAP read works, IMAP writes refused (SELECT answers [READ-ONLY]; STORE,
                 EXPUNGE, MOVE, APPEND... answer NO ... casella sospesa); SMTP submission
                 refused (550 5.7.1 ... casella sospesa); incoming PEC gets an
                 errore-consegna, ordinary mail a 550 at RCPT
    deactivated  IMAP and SMTP logins refused; incoming mail refused as above
    purged       gone: login refused, its mail deleted, deliveries as to a box that never was

State lives in `<sandbox>/lifecycle.json` (written atomically under a lock), so `wpec sandbox
account ...` can drive a sandbox running in another process: the hooks read the file (cached
by mtime) when they need a state, and the running sandbox makes the IMAP server follow
(`Sandbox.apply_lifecycle`, also called by the control loop of `wpec sandbox up`).
The transitions are the product's own state machine (`accounts.lifecycle`), the clock is the
real one plus an offset (`advance_clock`), so "31 days later" takes no time.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from wpec_invoicing.accounts import lifecycle as m
from wpec_invoicing.accounts.lifecycle import IllegalTransition, Lifecycle, State

FILE = "lifecycle.json"

__all__ = ["IllegalTransition", "SandboxLifecycle", "State"]


class SandboxLifecycle:
    """Per-box lifecycle of one sandbox folder (boxes never mentioned are active forever)."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.path = self.directory / FILE
        self._lock = threading.Lock()
        self._cache: tuple[float, dict[str, Any]] | None = None

    # -- the file --------------------------------------------------------------------------
    def _read(self) -> dict[str, Any]:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return {"clock_offset_seconds": 0, "boxes": {}}
        cached = self._cache
        if cached is not None and cached[0] == mtime:
            return cached[1]
        data = json.loads(self.path.read_text(encoding="utf-8"))
        self._cache = (mtime, data)
        return data

    @contextlib.contextmanager
    def _editing(self) -> Iterator[dict[str, Any]]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock, open(self.directory / (FILE + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            self._cache = None
            data = json.loads(json.dumps(self._read()))
            yield data
            tmp = self.path.with_name(FILE + ".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(tmp, self.path)
            self._cache = None

    # -- the clock -------------------------------------------------------------------------
    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._read().get("clock_offset_seconds", 0))

    def advance_clock(self, days: float) -> datetime:
        """Move the provider's clock forward; time-driven transitions follow."""
        if days < 0:
            raise ValueError("the clock only moves forward")
        with self._editing() as data:
            data["clock_offset_seconds"] = data.get("clock_offset_seconds", 0) + days * 86400
        return self.now()

    # -- states ----------------------------------------------------------------------------
    @staticmethod
    def _value(entry: dict[str, Any]) -> Lifecycle:
        return Lifecycle(State(entry["state"]),
                         date.fromisoformat(entry["expires_on"]) if entry.get("expires_on")
                         else None, datetime.fromisoformat(entry["since"]))

    @staticmethod
    def _entry(lc: Lifecycle, history: list) -> dict[str, Any]:
        return {"state": lc.state.value,
                "expires_on": lc.expires_on.isoformat() if lc.expires_on else None,
                "since": lc.since.isoformat(), "history": history}

    def lifecycle(self, address: str) -> Lifecycle:
        """The box's state now (time applied; the file is not written by a mere read)."""
        entry = self._read()["boxes"].get(address.lower())
        if entry is None:
            return Lifecycle(State.ACTIVE, None, datetime(2000, 1, 1, tzinfo=UTC))
        return m.advance(self._value(entry), self.now())[0]

    def state(self, address: str) -> State:
        return self.lifecycle(address).state

    def boxes(self) -> dict[str, Lifecycle]:
        return {a: self.lifecycle(a) for a in self._read()["boxes"]}

    def history(self, address: str) -> list[dict[str, Any]]:
        """Every transition so far, the time-driven ones included."""
        entry = self._read()["boxes"].get(address.lower())
        if not entry:
            return []
        later = m.advance(self._value(entry), self.now())[1]
        return list(entry.get("history", [])) + [_event_json(e) for e in later]

    def _change(self, address: str,
                op: Callable[[Lifecycle, datetime], tuple[Lifecycle, list[m.Event]]]
                ) -> Lifecycle:
        key = address.lower()
        with self._editing() as data:
            now = datetime.now(UTC) + timedelta(seconds=data.get("clock_offset_seconds", 0))
            entry = data["boxes"].get(key)
            current = self._value(entry) if entry else Lifecycle(State.ACTIVE, None, now)
            new, events = op(current, now)
            history = list(entry.get("history", [])) if entry else []
            history += [_event_json(e) for e in events]
            data["boxes"][key] = self._entry(new, history)
        return new

    def set_expiry(self, address: str, expires_on: date) -> Lifecycle:
        """The contract's end (a renewal when the box is suspended: it is recovered)."""
        def op(lc: Lifecycle, now: datetime) -> tuple[Lifecycle, list[m.Event]]:
            lc, events = m.advance(lc, now)
            if lc.state is State.ACTIVE and expires_on <= now.date():  # already over
                nxt, more = m.advance(Lifecycle(State.ACTIVE, expires_on, lc.since), now)
            else:
                nxt, more = m.renew(lc, expires_on, now)
            return nxt, [*events, *more]
        return self._change(address, op)

    def expire(self, address: str) -> Lifecycle:
        """The contract ends today: the box is suspended now."""
        return self._change(address, lambda lc, now: _expire_now(lc, now))

    def suspend(self, address: str) -> Lifecycle:
        return self._change(address, lambda lc, now: m.suspend(lc, now))

    def recover(self, address: str) -> Lifecycle:
        return self._change(address, lambda lc, now: m.recover(lc, now))

    def deactivate(self, address: str) -> Lifecycle:
        return self._change(address, lambda lc, now: m.deactivate(lc, now))

    def reactivate(self, address: str, until: date) -> Lifecycle:
        """The provider accepted a signed activation request (its check is the product's)."""
        return self._change(address, lambda lc, now: m.reactivate(lc, now, until, True))

    # -- what the servers ask ----------------------------------------------------------------
    def submission_refusal(self, login: str) -> str | None:
        """The SMTP reply refusing a submission by `login`, or None."""
        state = self.state(login)
        if state is State.SUSPENDED:
            return (f"550 5.7.1 <{login}>: Sender address rejected: casella sospesa "
                    "(mailbox suspended, read-only): invio non consentito")
        if state in (State.DEACTIVATED, State.PURGED):
            return "535 5.7.8 Authentication credentials invalid: casella disattivata"
        return None

    def write_refusal(self, address: str) -> str | None:
        """The text of the IMAP server's NO to a write (APPEND, STORE, EXPUNGE...) on
        `address`'s box, or None when it may be written."""
        if self.state(address) is State.SUSPENDED:
            return "casella sospesa (mailbox suspended, read-only): scrittura non consentita"
        return None

    def can_log_in(self, address: str) -> bool:
        return self.state(address) in (State.ACTIVE, State.SUSPENDED)

    def delivery_refusal(self, address: str) -> tuple[str, str] | None:
        """(daticert errore, detail) for a PEC delivered to `address`, or None."""
        state = self.state(address)
        if state is State.SUSPENDED:
            return "altro", (f"5.2.1 - {address}: casella sospesa, non può ricevere "
                             "(mailbox suspended)")
        if state is State.DEACTIVATED:
            return "altro", f"5.2.1 - {address}: casella disattivata (mailbox disabled)"
        if state is State.PURGED:
            return "no-dest", f"5.1.1 - indirizzo non valido: casella {address} inesistente"
        return None

    def inbound_refusal(self, address: str) -> str | None:
        """The RCPT reply refusing ordinary mail to `address`, or None."""
        state = self.state(address)
        if state is State.PURGED:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if state in (State.SUSPENDED, State.DEACTIVATED):
            return f"550 5.2.1 <{address}>: Recipient address rejected: mailbox {state}"
        return None


def _expire_now(lc: Lifecycle, now: datetime) -> tuple[Lifecycle, list[m.Event]]:
    lc, events = m.advance(lc, now)
    if lc.state is not State.ACTIVE:
        raise IllegalTransition(f"the box is {lc.state}, not active: it cannot expire")
    expired = Lifecycle(State.ACTIVE, now.date(), lc.since)
    nxt, more = m.advance(expired, now)
    return nxt, [*events, *more]


def _event_json(e: m.Event) -> dict[str, Any]:
    return {"at": e.at.isoformat(), "from": e.from_state.value if e.from_state else None,
            "to": e.to_state.value, "event": e.event, "detail": e.detail}
