"""The exports job: a receiver that refuses makes the job fail (so the queue retries it with
back-off); once it accepts, every invoice goes out once and nothing is sent again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.ingest.conftest import factory  # noqa: F401 (the fixture)
from tests.integration.ingest.test_export import Receiver, _setup
from wpec_invoicing.jobs.work import JobFailed, run_exports


def test_exports_job_fails_until_the_receiver_accepts_then_books_each_invoice_once(
        tmp_path: Path, factory) -> None:  # noqa: F811
    receiver = Receiver(fail_first=10_000, status=400)
    config, store = _setup(tmp_path, None, factory, [
        {"name": "hook", "type": "webhook", "url": receiver.url, "backoff_seconds": 0.01,
         "unsigned": True}])
    try:
        with pytest.raises(JobFailed, match="hook"):
            run_exports(config, store)
        assert receiver.received == []
        receiver.attempts = 10_000  # it accepts from now on (the retry of the job)
        assert run_exports(config, store) == 3
        assert len(receiver.received) == 3
        assert run_exports(config, store) == 0  # booked: not sent again
    finally:
        receiver.close()
        store.close()
