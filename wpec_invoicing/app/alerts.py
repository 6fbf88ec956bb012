"""Alerts: what an operator must look at (account paused, no acceptance in time, a message
that only looks like SdI...). Acknowledging closes one and writes `alert.cleared`."""

from __future__ import annotations

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict, NotFound
from wpec_invoicing.app.models import Model, Page, check_limit, cursor_int, decode_cursor, page_of
from wpec_invoicing.app.timefmt import Aware


class AlertOut(Model):
    id: int
    kind: str
    account: str | None = None
    item_id: int | None = None
    message: str
    created_at: Aware
    resolved_at: Aware | None = None


def list_alerts(ctx: AppContext, *, open_only: bool = True, cursor: str | None = None,
                limit: int = 50) -> Page[AlertOut]:
    from sqlalchemy import select

    from wpec_invoicing.store.outbox_models import OutboxAlert

    check_limit(limit)
    query = select(OutboxAlert).order_by(OutboxAlert.id).limit(limit + 1)
    after = cursor_int(decode_cursor(cursor), "id")
    if after is not None:
        query = query.where(OutboxAlert.id > after)
    if open_only:
        query = query.where(OutboxAlert.resolved_at.is_(None))
    with ctx.read() as s:
        rows = [AlertOut.model_validate(a) for a in s.scalars(query)]
    return page_of(rows, limit)


def acknowledge(ctx: AppContext, alert_id: int, *, actor: str = "cli") -> AlertOut:
    from wpec_invoicing.store.events import record_event
    from wpec_invoicing.store.outbox_models import OutboxAlert, utcnow

    with ctx.session() as s:
        alert = s.get(OutboxAlert, alert_id)
        if alert is None:
            raise NotFound(f"no alert with id {alert_id}")
        if alert.resolved_at is not None:
            raise Conflict(f"alert {alert_id} is closed already")
        alert.resolved_at = utcnow()
        record_event(s, "alert.cleared", "alert", alert.id, {"kind": alert.kind,
                                                             "actor": actor})
        return AlertOut.model_validate(alert)
