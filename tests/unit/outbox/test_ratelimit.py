"""The adaptive token bucket, driven by a hand-moved clock (no sleeping)."""

import pytest

from wpec_invoicing.outbox.ratelimit import AdaptiveRateLimiter, backoff_delay


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def drain(limiter: AdaptiveRateLimiter, clock: FakeClock, seconds: float, on_send=None) -> int:
    """Send as fast as the limiter allows for `seconds` of fake time; return messages sent."""
    end = clock.now + seconds
    sent = 0
    for _ in range(1_000_000):  # a bound, so a limiter bug fails the test instead of hanging
        if clock.now >= end:
            break
        wait = limiter.time_until_token()
        if wait > 0:
            clock.advance(min(wait, end - clock.now))
            continue
        assert limiter.try_acquire()
        sent += 1
        if on_send is not None:
            on_send()
        else:
            limiter.on_success()
    else:
        raise AssertionError("the limiter never let the clock reach the end")
    return sent


def test_burst_then_configured_rate():
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(60, burst=5, clock=clock)
    for _ in range(5):
        assert limiter.try_acquire()
    assert not limiter.try_acquire()
    assert limiter.time_until_token() == pytest.approx(1.0)
    clock.advance(1.0)
    assert limiter.try_acquire()
    # Ten minutes at 60/min: 600 messages (+ the burst already counted above).
    sent = drain(limiter, clock, 600)
    assert 599 <= sent <= 601


def test_early_refusals_shrink_the_burst_before_the_rate():
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(60, burst=10, clock=clock)
    limiter.on_throttle()
    assert (limiter.burst, limiter.rate) == (5, 60)
    for _ in range(3):
        limiter.on_throttle()
    assert limiter.burst == 1 and limiter.rate < 60


def test_throttle_cuts_rate_empties_bucket_and_pauses():
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(60, burst=1, clock=clock, decrease=0.5)
    limiter.on_throttle(pause_seconds=30)
    snap = limiter.snapshot()
    assert snap.rate_per_minute == 30
    assert snap.tokens == 0
    assert snap.learned_limit_per_minute == 60
    assert not limiter.try_acquire()
    assert limiter.time_until_token() == pytest.approx(30)
    clock.advance(29)
    assert not limiter.try_acquire()
    clock.advance(1)
    assert limiter.try_acquire()


def test_rate_never_below_floor_nor_above_ceiling():
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(10, clock=clock, floor_per_minute=2)
    for _ in range(20):
        limiter.on_throttle()
    assert limiter.rate == 2
    for _ in range(10_000):
        clock.advance(60)
        limiter.on_success()
    assert limiter.rate == 10


def test_settles_at_what_the_provider_allows():
    """Configured at 60/min, the provider really allows 20/min: after a warm-up the limiter
    sends at most ~20/min and not much less (it does not collapse to the floor)."""
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(60, burst=5, clock=clock)
    provider = AdaptiveRateLimiter(20, burst=5, clock=clock)  # the provider's own bucket

    def on_send():
        if provider.try_acquire():
            limiter.on_success()
        else:
            limiter.on_throttle(pause_seconds=5)

    drain(limiter, clock, 600, on_send)  # warm-up: 10 minutes
    throttles_before = limiter.throttles
    accepted_before = provider_accepted = 0

    def counting_send():
        nonlocal provider_accepted
        if provider.try_acquire():
            provider_accepted += 1
            limiter.on_success()
        else:
            limiter.on_throttle(pause_seconds=5)

    drain(limiter, clock, 1200, counting_send)  # 20 minutes
    per_minute = (provider_accepted - accepted_before) / 20
    assert 14 <= per_minute <= 20.5
    # Throttling happens, but rarely: a handful per 20 minutes, not one per message.
    assert limiter.throttles - throttles_before < 60
    assert limiter.learned_limit is not None and limiter.learned_limit < 40


def test_recovers_to_ceiling_after_the_provider_lifts_its_limit():
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(60, clock=clock, decrease=0.5)
    limiter.on_throttle()
    limiter.on_throttle()
    assert limiter.rate == 15
    drain(limiter, clock, 3600)
    assert limiter.rate == 60


def test_measured_rate_sets_the_cut_instead_of_blind_halving():
    """After 30 s of evidence that ~20/min get through, a refusal settles the rate just under
    that, not at half of the configured ceiling."""
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(120, burst=2, clock=clock)
    assert limiter.measured_rate() is None
    for _ in range(20):
        clock.advance(3.0)  # 20 a minute got through
        limiter.on_success()
    assert 17 <= limiter.measured_rate() <= 21
    limiter.on_throttle()
    assert 17 <= limiter.rate <= 20


def test_give_back_returns_token():
    clock = FakeClock()
    limiter = AdaptiveRateLimiter(60, burst=1, clock=clock)
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    limiter.give_back()
    assert limiter.try_acquire()


def test_invalid_parameters_are_refused():
    with pytest.raises(ValueError):
        AdaptiveRateLimiter(0)
    with pytest.raises(ValueError):
        AdaptiveRateLimiter(10, burst=0)
    with pytest.raises(ValueError):
        AdaptiveRateLimiter(10, decrease=1.5)


def test_backoff_grows_with_jitter_and_is_capped():
    lows = [backoff_delay(n, base=2, cap=100, rng=lambda: 0.0) for n in range(1, 10)]
    highs = [backoff_delay(n, base=2, cap=100, rng=lambda: 0.999) for n in range(1, 10)]
    assert lows[:4] == [1, 2, 4, 8]
    assert all(h > low for h, low in zip(highs, lows, strict=True))
    assert max(highs) <= 100
    assert lows[-1] == 50  # capped: half fixed, half random
