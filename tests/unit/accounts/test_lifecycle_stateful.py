"""A hypothesis stateful test of the mailbox lifecycle against the table of the issue:

    active --expiry or soft close--> suspended --renewed within 30 days--> active (recovered)
    suspended --after 30 days--> deactivated --signed request within 180 days--> active
    deactivated --after 180 days--> purged (final)

The model below is written from that table directly (days counted from the moment each state
began); the machine under test must agree with it after every step, refuse exactly the moves
the table forbids, and keep a history whose every step is an edge of the table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from wpec_invoicing.accounts import lifecycle as m
from wpec_invoicing.accounts.lifecycle import IllegalTransition, Lifecycle, State

EDGES = {
    (State.ACTIVE, State.ACTIVE), (State.ACTIVE, State.SUSPENDED),
    (State.ACTIVE, State.DEACTIVATED), (State.SUSPENDED, State.ACTIVE),
    (State.SUSPENDED, State.DEACTIVATED), (State.DEACTIVATED, State.ACTIVE),
    (State.DEACTIVATED, State.PURGED),
}
START = datetime(2027, 1, 1, 9, tzinfo=UTC)


class LifecycleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = START
        self.lc = Lifecycle(State.ACTIVE, date(2027, 3, 1), START)
        # The model: state, since, expiry.
        self.state, self.since, self.expiry = State.ACTIVE, START, date(2027, 3, 1)
        self.history: list[m.Event] = []

    # -- the model's own reading of the table ------------------------------------------------
    def _model_advance(self) -> None:
        while True:
            if self.state is State.ACTIVE and self.expiry and \
                    self.now >= datetime.combine(self.expiry, datetime.min.time(), UTC):
                self.state = State.SUSPENDED
                self.since = datetime.combine(self.expiry, datetime.min.time(), UTC)
            elif self.state is State.SUSPENDED and self.now >= self.since + timedelta(days=30):
                self.state, self.since = State.DEACTIVATED, self.since + timedelta(days=30)
            elif self.state is State.DEACTIVATED and \
                    self.now >= self.since + timedelta(days=180):
                self.state, self.since = State.PURGED, self.since + timedelta(days=180)
            else:
                return

    def _do(self, fn, allowed: bool, then=None) -> None:
        self._model_advance()
        try:
            self.lc, events = fn(self.lc)
        except IllegalTransition as exc:
            assert not allowed, f"refused a legal move: {exc}"
            assert str(exc)
            self.lc, events = m.advance(self.lc, self.now)
            self.history += events
            return
        assert allowed, "accepted an illegal move"
        self.history += events
        if then:
            then()

    @rule(days=st.integers(0, 120), hours=st.integers(0, 23))
    def time_passes(self, days: int, hours: int) -> None:
        self.now += timedelta(days=days, hours=hours)
        self.lc, events = m.advance(self.lc, self.now)
        self.history += events
        self._model_advance()

    @rule(ahead=st.integers(-5, 400))
    def renew(self, ahead: int) -> None:
        until = self.now.date() + timedelta(days=ahead)
        self._model_advance()
        ok = self.state in (State.ACTIVE, State.SUSPENDED) and ahead > 0
        was = self.state

        def then() -> None:
            if was is State.SUSPENDED:  # recovered: a new active period starts now
                self.since = self.now
            self.state, self.expiry = State.ACTIVE, until
        self._do(lambda lc: m.renew(lc, until, self.now), ok, then)

    @rule()
    def suspend(self) -> None:
        self._model_advance()

        def then() -> None:
            self.state, self.since = State.SUSPENDED, self.now
        self._do(lambda lc: m.suspend(lc, self.now), self.state is State.ACTIVE, then)

    @rule()
    def recover(self) -> None:
        self._model_advance()
        ok = self.state is State.SUSPENDED and (self.expiry is None
                                                or self.expiry > self.now.date())

        def then() -> None:
            self.state, self.since = State.ACTIVE, self.now
        self._do(lambda lc: m.recover(lc, self.now), ok, then)

    @rule()
    def deactivate(self) -> None:
        self._model_advance()
        ok = self.state in (State.ACTIVE, State.SUSPENDED)

        def then() -> None:
            self.state, self.since = State.DEACTIVATED, self.now
        self._do(lambda lc: m.deactivate(lc, self.now), ok, then)

    @rule(signed=st.booleans(), ahead=st.integers(1, 400))
    def reactivate(self, signed: bool, ahead: int) -> None:
        self._model_advance()
        until = self.now.date() + timedelta(days=ahead)
        ok = self.state is State.DEACTIVATED and signed

        def then() -> None:
            self.state, self.since, self.expiry = State.ACTIVE, self.now, until
        self._do(lambda lc: m.reactivate(lc, self.now, until, signed, "not signed"), ok, then)

    @invariant()
    def agrees_with_the_table(self) -> None:
        assert self.lc.state is self.state
        assert self.lc.since == self.since
        if self.state is not State.PURGED:
            assert self.lc.expires_on == self.expiry
        for e in self.history:
            assert (e.from_state, e.to_state) in EDGES, e

    @invariant()
    def purged_is_final(self) -> None:
        seen_purged = False
        for e in self.history:
            assert not seen_purged, "a transition after purge"
            seen_purged = e.to_state is State.PURGED


TestLifecycle = LifecycleMachine.TestCase
TestLifecycle.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)


def test_recover_after_30_days_is_refused_with_the_reason():
    lc = Lifecycle(State.ACTIVE, date(2027, 1, 10), START)
    later = datetime(2027, 2, 10, tzinfo=UTC)  # 31 days after expiry
    try:
        m.recover(lc, later)
    except IllegalTransition as exc:
        assert "deactivated on 2027-02-09" in str(exc) and "signed request" in str(exc)
    else:
        raise AssertionError("recover after 30 days was accepted")
