"""An adaptive token bucket per sending account, driven by an injectable clock.

WHY adaptive: the configured `messages_per_minute` is what the operator *believes* the provider
allows; providers throttle automated senders at limits they do not publish (Legalmail about 6 a
minute, Aruba blocks the IP for a while). A fixed rate either wastes time (too low) or keeps
hitting the wall (too high). So the bucket starts at the configured ceiling, cuts its rate
multiplicatively whenever the provider pushes back, remembers the rate at which that happened,
and climbs back additively: quickly up to just under the remembered limit, slowly above it,
never past the configured ceiling. A long run settles just under what the provider really allows.

`AdaptiveRateLimiter` is pure: no sleeping and no threads. `time_until_token()` says how long
the caller must wait; the caller sleeps. The clock is injectable so tests drive it by hand.

WHY a shared twin (`SharedRateLimiter`): several workers, on several machines, may send for
the same account (one after another, or a CLI run next to a worker). Each with its own bucket,
the provider would see the sum of their rates, and each would learn the provider's limit
alone. So the sender keeps the bucket's state in the store (`outbox_rate_state`, one row per
account) and applies every step under that row's lock, on the database's clock: every worker
draws from ONE bucket and adapts ONE rate, whatever the number of processes.
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]

# Float refills never land exactly on 1.0: a token within this much of whole counts as whole.
_EPS = 1e-9
# Seconds of recent successes used to measure what the provider really lets through.
MEASURE_WINDOW = 30.0
# Successes kept in the shared state (the measure needs a few; a row must stay small).
MAX_KEPT_SUCCESSES = 256


@dataclass(frozen=True)
class RateSnapshot:
    """What the limiter currently believes, for status output and logs."""

    rate_per_minute: float
    ceiling_per_minute: float
    learned_limit_per_minute: float | None
    tokens: float
    paused_for: float
    throttles: int


class AdaptiveRateLimiter:
    """Token bucket with AIMD adaptation (multiplicative decrease, additive increase).

    - `rate_per_minute`: the configured ceiling; the rate never goes above it.
    - `burst`: bucket size; at most this many messages leave back to back.
    - `decrease`: factor applied to the rate on each throttling signal (0 < decrease < 1).
    - `floor_per_minute`: the rate never drops below this (so a run always progresses).
    - `recover_per_minute`: how much the rate climbs per minute of successful sending while
      below the learned limit (fast phase); above it the climb is `slow_factor` times that.
    """

    def __init__(
        self,
        rate_per_minute: float,
        burst: int = 1,
        *,
        clock: Clock = time.monotonic,
        decrease: float = 0.7,
        floor_per_minute: float = 1.0,
        recover_per_minute: float | None = None,
        slow_factor: float = 0.25,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self._clock = clock
        self.ceiling = float(rate_per_minute)
        self.burst = int(burst)
        self._configured_burst = int(burst)
        self.decrease = decrease
        self.floor = min(float(floor_per_minute), self.ceiling)
        # Default fast recovery: half the ceiling per minute of clean sending.
        self.recover = recover_per_minute if recover_per_minute else self.ceiling / 2
        self.slow_factor = slow_factor
        self.rate = self.ceiling
        self.learned_limit: float | None = None
        self.throttles = 0
        now = clock()
        self._tokens = float(self.burst)
        self._last = now
        self._paused_until = now
        self._last_success: float | None = None
        self._successes: deque[float] = deque()

    # -- token bucket -----------------------------------------------------------------------
    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate / 60.0)

    def time_until_token(self) -> float:
        """Seconds to wait before `try_acquire()` can succeed (0.0 = now)."""
        now = self._clock()
        self._refill(now)
        pause = max(0.0, self._paused_until - now)
        if self._tokens >= 1.0 - _EPS:
            return pause
        missing = 1.0 - self._tokens
        return max(pause, missing * 60.0 / self.rate + _EPS)

    def try_acquire(self) -> bool:
        """Take one token if one is available and no pause is in force."""
        now = self._clock()
        self._refill(now)
        if now < self._paused_until or self._tokens < 1.0 - _EPS:
            return False
        self._tokens = max(0.0, self._tokens - 1.0)
        return True

    def give_back(self) -> None:
        """Return a token that was taken but not used (the send never reached the provider)."""
        self._tokens = min(float(self.burst), self._tokens + 1.0)

    # -- adaptation -------------------------------------------------------------------------
    def on_success(self) -> None:
        """The provider accepted a message: climb back towards the ceiling.

        The climb is proportional to the time since the previous success, so it does not depend
        on how many messages a minute we manage: one minute of clean sending below the learned
        limit adds `recover` messages/minute, above it `recover * slow_factor`.
        """
        now = self._clock()
        previous = self._last_success
        self._last_success = now
        self._successes.append(now)
        while self._successes and self._successes[0] < now - MEASURE_WINDOW:
            self._successes.popleft()
        if self.rate >= self.ceiling:
            return
        elapsed_min = (now - previous) / 60.0 if previous is not None else 1.0 / max(self.rate, 1)
        elapsed_min = min(elapsed_min, 1.0)  # a long idle gap earns no more than a minute's climb
        step = self.recover * elapsed_min
        if self.learned_limit is not None and self.rate >= 0.9 * self.learned_limit:
            step *= self.slow_factor
            # Keep probing upwards: the provider's limit may have been lifted meanwhile.
            self.learned_limit = max(self.learned_limit, self.rate + step)
        self.rate = min(self.ceiling, self.rate + step)

    def on_throttle(self, pause_seconds: float = 0.0) -> None:
        """The provider pushed back (4xx, "too much traffic", temporary block, dropped link).

        Cut the rate, empty the bucket (the provider's own bucket is empty too) and, when the
        caller asks for it (a temporary block), stop all sending for `pause_seconds`.
        """
        now = self._clock()
        self._refill(now)
        self.throttles += 1
        # The rate we were at is what the provider refused: our best estimate of its limit.
        self.learned_limit = self.rate
        measured = self.measured_rate(now)
        if measured is None and self.burst > 1:
            # Too early to know the provider's rate: the first refusals usually mean our
            # burst is bigger than its bucket. Learn the burst first, keep the rate.
            self.burst = max(1, self.burst // 2)
            new_rate = self.rate
        elif measured is not None:
            # We know what actually got through lately: settle just under it instead of
            # halving (halving would idle the provider for minutes on every refusal).
            new_rate = min(self.rate * 0.9, measured * 0.95)
        else:
            new_rate = self.rate * self.decrease
        self.rate = max(self.floor, new_rate)
        self._tokens = 0.0
        if pause_seconds > 0:
            self._paused_until = max(self._paused_until, now + pause_seconds)
        self._last_success = None

    def measured_rate(self, now: float | None = None) -> float | None:
        """Messages per minute the provider accepted over the last window, once the window
        holds enough evidence (None before: too early to tell)."""
        now = self._clock() if now is None else now
        while self._successes and self._successes[0] < now - MEASURE_WINDOW:
            self._successes.popleft()
        if len(self._successes) < 2 * self.burst + 2:
            return None
        span = now - self._successes[0]
        if span < MEASURE_WINDOW / 2:
            return None
        # The first `burst` successes may have been free (a full bucket): leave them out.
        return (len(self._successes) - self.burst) * 60.0 / span

    def acquire_or_wait(self) -> float:
        """Take a token (0.0) or say how many seconds until one may be taken."""
        if self.try_acquire():
            return 0.0
        return max(self.time_until_token(), _EPS)

    # -- persistence (the shared limiter) ---------------------------------------------------
    def state(self) -> dict:
        """Everything that changes, as JSON-able values (times on the clock's scale)."""
        kept = list(self._successes)[-MAX_KEPT_SUCCESSES:]
        return {"ceiling": self.ceiling, "configured_burst": self._configured_burst,
                "rate": self.rate, "burst": self.burst, "learned_limit": self.learned_limit,
                "throttles": self.throttles, "tokens": self._tokens, "last": self._last,
                "paused_until": self._paused_until, "last_success": self._last_success,
                "successes": kept}

    def restore(self, state: dict) -> None:
        """Continue from `state()`. A changed ceiling or burst in the configuration starts
        over from the new values (the operator's word wins over what was learned)."""
        if not state or state.get("ceiling") != self.ceiling or \
                state.get("configured_burst") != self._configured_burst:
            return
        self.rate = min(self.ceiling, max(self.floor, float(state["rate"])))
        self.burst = max(1, min(self._configured_burst, int(state["burst"])))
        self.learned_limit = state.get("learned_limit")
        self.throttles = int(state.get("throttles", 0))
        self._tokens = min(float(self.burst), float(state["tokens"]))
        self._last = float(state["last"])
        self._paused_until = float(state["paused_until"])
        self._last_success = state.get("last_success")
        self._successes = deque(float(t) for t in state.get("successes", ()))

    def snapshot(self) -> RateSnapshot:
        now = self._clock()
        self._refill(now)
        return RateSnapshot(
            rate_per_minute=self.rate,
            ceiling_per_minute=self.ceiling,
            learned_limit_per_minute=self.learned_limit,
            tokens=self._tokens,
            paused_for=max(0.0, self._paused_until - now),
            throttles=self.throttles,
        )


def backoff_delay(
    attempt: int,
    *,
    base: float = 2.0,
    cap: float = 300.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Delay before retry number `attempt` (1-based): exponential with "equal jitter".

    WHY jitter: many items throttled at the same moment must not all come back at the same
    moment. Half the exponential delay is kept (so retries do slow down), the other half is
    random.
    """
    if attempt < 1:
        attempt = 1
    exp = min(cap, base * (2 ** (attempt - 1)))
    return exp / 2 + rng() * exp / 2


class SharedRateLimiter:
    """`AdaptiveRateLimiter` whose state lives in the store, one row per account.

    Same verbs as the pure limiter; each runs in its own short transaction: lock the row, read
    the state, apply the step at the database's clock (PostgreSQL's `clock_timestamp()`, so
    machines whose clocks drift still share one timeline; SQLite's is this machine's), write
    the state back. `time_until_token` only reads. `rate` is the rate seen at the last step.
    """

    def __init__(self, store, account: str, rate_per_minute: float, burst: int = 1,
                 **options) -> None:
        self.store = store
        self.account = account
        self.ceiling = float(rate_per_minute)
        self.configured_burst = int(burst)
        self.options = options
        AdaptiveRateLimiter(self.ceiling, self.configured_burst, **options)  # checks the values
        self.rate = self.ceiling
        self._pg = store.engine.dialect.name == "postgresql"

    def _step(self, fn: Callable[[AdaptiveRateLimiter], object], *, write: bool = True):
        from sqlalchemy import select, text

        from wpec_invoicing.store.db import utcnow
        from wpec_invoicing.store.jobs_models import OutboxRateState

        with self.store.session() as s:
            query = select(OutboxRateState).where(OutboxRateState.account == self.account)
            row = s.scalar(query.with_for_update() if write else query)
            if row is None and write:
                self._insert(s)
                row = s.scalar(query.with_for_update())
            now = float(s.scalar(text("SELECT extract(epoch FROM clock_timestamp())"))) \
                if self._pg else time.time()
            limiter = AdaptiveRateLimiter(self.ceiling, self.configured_burst,
                                          clock=lambda: now, **self.options)
            if row is not None:
                limiter.restore(row.state)
            value = fn(limiter)
            if write:
                row.state = limiter.state()
                row.updated_at = utcnow()
            self.rate = limiter.rate
            return value

    def _insert(self, s) -> None:
        """The account's first row, whichever worker gets there first (no duplicate error)."""
        from wpec_invoicing.store.db import utcnow
        from wpec_invoicing.store.jobs_models import OutboxRateState

        if self._pg:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        s.execute(insert(OutboxRateState).values(account=self.account, state={},
                                                 updated_at=utcnow())
                  .on_conflict_do_nothing(index_elements=["account"]))

    def acquire_or_wait(self) -> float:
        return float(self._step(lambda lim: lim.acquire_or_wait()))  # type: ignore[arg-type]

    def try_acquire(self) -> bool:
        return bool(self._step(lambda lim: lim.try_acquire()))

    def time_until_token(self) -> float:
        return float(self._step(lambda lim: lim.time_until_token(), write=False))  # type: ignore[arg-type]

    def give_back(self) -> None:
        self._step(lambda lim: lim.give_back())

    def on_success(self) -> None:
        self._step(lambda lim: lim.on_success())

    def on_throttle(self, pause_seconds: float = 0.0) -> None:
        self._step(lambda lim: lim.on_throttle(pause_seconds))

    def snapshot(self) -> RateSnapshot:
        return self._step(lambda lim: lim.snapshot(), write=False)  # type: ignore[return-value]
