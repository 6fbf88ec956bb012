"""Stage 7: what happened to a message, recorded and told to whoever registered.

One call per message, at the end of its processing, inside its transaction, with the facts:
the message was stored and classified; each new supplier invoice was received with its
verdict (verified, needs-review, refused). The registered observers (`observers`) hear about
every message (the outbox correlates receipts and SdI notifications with what it sent);
every event is logged. This is the one place where an event table is written, so that an
operator's timeline and the pipeline cannot disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from wpec_invoicing.ingest.observers import notify

log = logging.getLogger(__name__)

MESSAGE_STORED = "message.stored"
INVOICE_EVENTS = {"verified": "invoice.verified", "needs-review": "invoice.needs-review",
                  "refused": "invoice.refused"}
INVOICE_RECEIVED = "invoice.received"


@dataclass(frozen=True)
class Event:
    """One thing that happened, as an operator's timeline shows it."""

    name: str
    message_id: int | None = None
    invoice_id: int | None = None
    detail: str | None = None


def events_of(msg: Any, kind: str, invoices: list[Any]) -> list[Event]:
    """The events of one processed message (`invoices`: `ingest.invoices.Registered`)."""
    found = [Event(MESSAGE_STORED, msg.id, detail=kind)]
    for inv in invoices:
        if not inv.created:  # the same file again: nothing new happened to it
            continue
        found.append(Event(INVOICE_RECEIVED, msg.id, inv.id))
        found.append(Event(INVOICE_EVENTS.get(inv.status, f"invoice.{inv.status}"), msg.id,
                           inv.id))
    return found


def record_events(ctx: Any, session: Any, msg: Any, pec: Any, events: list[Event]) -> list[str]:
    """Record the events and tell the observers; returns the observers' error texts."""
    for event in events:
        log.info("%s message=%s invoice=%s %s", event.name, event.message_id,
                 event.invoice_id, event.detail or "")
    return notify(session, msg, pec, ctx.observers)
