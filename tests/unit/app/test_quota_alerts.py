"""A quota threshold crossed by housekeeping is an alert like any other: listed by
`app.alerts.list_alerts`, announced by `alert.raised`, closed with `alert.cleared`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from wpec_invoicing.app.alerts import list_alerts
from wpec_invoicing.app.events import list_events
from wpec_invoicing.housekeeping.quota import QuotaReading, record


def test_quota_alert_in_shared_alerts_and_events(ctx):
    t0 = datetime(2027, 1, 1, tzinfo=UTC)
    with ctx.session() as s:
        assert record(s, "main", QuotaReading(85, 100, "server"), warning=80, critical=95,
                      now=t0) == "warning"
    [alert] = list_alerts(ctx).items
    assert (alert.kind, alert.account) == ("quota-warning", "main")
    with ctx.session() as s:
        assert record(s, "main", QuotaReading(10, 100, "server"), warning=80, critical=95,
                      now=t0 + timedelta(hours=1)) is None
    assert list_alerts(ctx).items == []
    events = [(e.type, str(e.subject_id)) for e in list_events(ctx).items
              if e.type.startswith("alert.")]
    assert events == [("alert.raised", str(alert.id)), ("alert.cleared", str(alert.id))]
