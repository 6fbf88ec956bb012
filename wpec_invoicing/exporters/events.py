"""Event webhooks: the webhook exporter fed by the event stream (one source of truth for
"what happened"), not by its own look at the invoices.

An exporter `type = "webhook"` with `options = { events = ["invoice.", "sent_invoice.NS"] }`
posts every event whose type matches (a value ending in "." is a prefix) after the last one it
delivered, in id order, one POST each, signed exactly as invoice posts are (X-Wpec-Signature
over "<timestamp>.<body>", X-Wpec-Timestamp) with `X-Wpec-Delivery: <exporter>-event-<id>`
(stable: the receiver drops a repeat). The cursor advances after each 2xx only, so a receiver
that is down gets everything, in order, on a later run; events are never skipped (their ids
commit in order, see store/events.py).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import or_, select

log = logging.getLogger(__name__)
BATCH = 200


@dataclass
class EventDelivery:
    exporter: str
    delivered: int = 0
    failed: str | None = None
    last_event_id: int = 0
    errors: list[str] = field(default_factory=list)


def event_exporters(config: Any) -> list[Any]:
    return [e for e in config.exporters
            if e.type == "webhook" and (e.options or {}).get("events")]


def deliver_events(config: Any, store: Any, names: list[str] | None = None
                   ) -> list[EventDelivery]:
    """Post the new events to every event webhook; see the module docstring."""
    import httpx

    from wpec_invoicing.exporters.webhook import WebhookExporter
    from wpec_invoicing.store.app_models import Event, EventCursor

    results = []
    for cfg in event_exporters(config):
        if names is not None and cfg.name not in names:
            continue
        exporter = WebhookExporter(cfg)
        types = [str(t) for t in cfg.options["events"]]
        consumer = f"webhook:{cfg.name}"
        result = EventDelivery(cfg.name)
        with store.session() as s:
            cursor = s.get(EventCursor, consumer)
            after = cursor.last_event_id if cursor is not None else 0
        with httpx.Client(timeout=cfg.timeout_seconds, follow_redirects=False) as client:
            while result.failed is None:
                conds = [Event.type.startswith(t) if t.endswith(".") else Event.type == t
                         for t in types]
                with store.session() as s:
                    rows = [(e.id, e.type, e.at, e.subject_type, e.subject_id, e.payload)
                            for e in s.execute(select(Event.id, Event.type, Event.at,
                                                      Event.subject_type, Event.subject_id,
                                                      Event.payload)
                                               .where(Event.id > after, or_(*conds))
                                               .order_by(Event.id).limit(BATCH))]
                if not rows:
                    break
                for event_id, type_, at, subject_type, subject_id, payload in rows:
                    if at is not None and at.tzinfo is None:
                        at = at.replace(tzinfo=UTC)
                    body = json.dumps({"id": event_id, "type": type_,
                                       "at": (at or datetime.now(UTC)).isoformat(),
                                       "subject_type": subject_type,
                                       "subject_id": subject_id, "payload": payload},
                                      ensure_ascii=False).encode()
                    ok, detail = exporter.post(client, body, f"{cfg.name}-event-{event_id}")
                    if not ok:
                        result.failed = f"event {event_id}: {detail}"
                        result.errors.append(result.failed)
                        break
                    after = event_id
                    result.delivered += 1
                _save_cursor(store, consumer, after)
        result.last_event_id = after
        results.append(result)
    return results


def _save_cursor(store: Any, consumer: str, last: int) -> None:
    from wpec_invoicing.store.app_models import EventCursor, utcnow

    with store.session() as s:
        row = s.get(EventCursor, consumer)
        if row is None:
            s.add(EventCursor(consumer=consumer, last_event_id=last, updated_at=utcnow()))
        elif last > row.last_event_id:
            row.last_event_id, row.updated_at = last, utcnow()
