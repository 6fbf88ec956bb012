"""`raise_alert` / `clear_alert`: the one way any layer opens or closes an operator alert.

Alerts live in the shared `outbox_alerts` table that `wpec alerts`, `GET /api/v1/alerts`, the
console's "Avvisi" page and the events stream read. The writer is here (not in `outbox/`) so
that housekeeping and the account lifecycle, which may not import `outbox/`, write the same
rows and the same `alert.raised` / `alert.cleared` events, in the caller's transaction.
May import: `store`, the standard library.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from wpec_invoicing.store.db import utcnow
from wpec_invoicing.store.events import record_event
from wpec_invoicing.store.outbox_models import OutboxAlert


def raise_alert(session: Session, kind: str, message: str, *, account: str | None = None,
                item_id: int | None = None, now: datetime | None = None) -> OutboxAlert:
    alert = OutboxAlert(kind=kind, message=message, account=account, item_id=item_id,
                        created_at=now or utcnow())
    session.add(alert)
    session.flush()
    record_event(session, "alert.raised", "alert", alert.id,
                 {"kind": kind, "account": account, "item_id": item_id, "message": message})
    return alert


def clear_alert(session: Session, alert: OutboxAlert, *, actor: str = "system",
                now: datetime | None = None) -> None:
    alert.resolved_at = now or utcnow()
    record_event(session, "alert.cleared", "alert", alert.id, {"kind": alert.kind,
                                                                "actor": actor})
