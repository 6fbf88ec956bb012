"""Quota samples and threshold alerts on a real store: raised at 80% / 95%, one open alert at
a time, cleared when usage drops; an estimate without a limit raises nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from wpec_invoicing.housekeeping.quota import QuotaReading, record
from wpec_invoicing.store.app_models import Event
from wpec_invoicing.store.db import Store
from wpec_invoicing.store.housekeeping_models import QuotaSample
from wpec_invoicing.store.outbox_models import OutboxAlert


def test_thresholds_raise_and_clear(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'wpec.db'}")
    t0 = datetime(2027, 1, 1, tzinfo=UTC)
    levels = []
    for i, used in enumerate((50, 81, 85, 96, 90, 60, 70)):
        with store.session() as s:
            levels.append(record(s, "main", QuotaReading(used, 100, "server"), warning=80,
                                 critical=95, now=t0 + timedelta(hours=i)))
    assert levels == [None, "warning", "warning", "critical", "warning", None, None]
    with store.session() as s:
        alerts = list(s.scalars(select(OutboxAlert).order_by(OutboxAlert.id)))
        assert [(a.kind, a.resolved_at is not None) for a in alerts] == [
            ("quota-warning", True), ("quota-critical", True), ("quota-warning", True)]
        assert "96.0% full" in alerts[1].message
        assert len(list(s.scalars(select(QuotaSample)))) == 7
        assert all(a.account == "main" for a in alerts)
        events = [(e.type, int(e.subject_id)) for e in s.scalars(
            select(Event).where(Event.type.like("alert.%")).order_by(Event.id))]
        assert events == [("alert.raised", alerts[0].id), ("alert.cleared", alerts[0].id),
                          ("alert.raised", alerts[1].id), ("alert.cleared", alerts[1].id),
                          ("alert.raised", alerts[2].id), ("alert.cleared", alerts[2].id)]
    with store.session() as s:
        assert record(s, "main", QuotaReading(10**9, None, "estimate"), warning=80,
                      critical=95) is None
    store.close()
