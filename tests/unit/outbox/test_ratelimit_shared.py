"""The rate limit shared through the store: two limiters on one account (two workers) draw
from one bucket and adapt one rate, on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from tests.unit.store.postgres import database_url
from wpec_invoicing.outbox.ratelimit import AdaptiveRateLimiter, SharedRateLimiter
from wpec_invoicing.store.db import Store


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    st = Store(database_url(request.param, tmp_path), archive_dir=tmp_path / "archive")
    yield st
    st.close()


def test_two_workers_share_one_bucket(store):
    # 6 a minute, burst 3: one token every 10 s, so none comes back during the test.
    a = SharedRateLimiter(store, "main", 6, 3)
    b = SharedRateLimiter(store, "main", 6, 3)
    taken = [lim.try_acquire() for lim in (a, b, a, b, a, b)]
    assert taken.count(True) == 3  # not 6: the second worker's bucket is the first's
    assert b.acquire_or_wait() > 5  # and it knows how long to wait
    other = SharedRateLimiter(store, "other", 6, 3)
    assert other.try_acquire()  # another account has its own bucket


def test_a_throttle_seen_by_one_worker_slows_every_worker(store):
    a = SharedRateLimiter(store, "main", 60, 2)
    b = SharedRateLimiter(store, "main", 60, 2)
    a.on_throttle(pause_seconds=30)  # the provider blocked us (Aruba-style)
    assert b.acquire_or_wait() > 20
    assert b.snapshot().throttles == 1
    a.give_back()  # a token returned is still subject to the pause
    assert not b.try_acquire()


def test_a_new_ceiling_in_the_configuration_starts_over(store):
    old = SharedRateLimiter(store, "main", 60, 2)
    old.on_throttle()
    assert old.rate == 60  # too early to know: the burst is learned first
    old.on_throttle()
    assert old.snapshot().throttles == 2
    new = SharedRateLimiter(store, "main", 30, 2)
    snap = new.snapshot()
    assert snap.throttles == 0 and snap.ceiling_per_minute == 30


def test_state_round_trip_continues_where_it_left_off():
    now = [1000.0]
    first = AdaptiveRateLimiter(60, 4, clock=lambda: now[0])
    for _ in range(3):
        assert first.try_acquire()
        first.on_success()
    first.on_throttle(pause_seconds=5)
    state = first.state()
    second = AdaptiveRateLimiter(60, 4, clock=lambda: now[0])
    second.restore(state)
    assert second.snapshot() == first.snapshot()
    now[0] += 6
    assert second.time_until_token() == first.time_until_token()
