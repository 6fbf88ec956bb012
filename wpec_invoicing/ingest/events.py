"""Stage 7: what happened, recorded and told to whoever registered.

One call per message (or per invoice file imported on its own), at the end of its
processing, inside its transaction, with the facts: the message was stored and classified;
each new supplier invoice was received with its verdict (verified, needs-review, refused).
The registered observers (`observers`) hear about every message (the outbox correlates
receipts and SdI notifications with what it sent); every event is logged. This is the one
place where an event table is written, so that an operator's timeline and the pipeline
cannot disagree.
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


def invoice_events(message_id: int | None, invoices: list[Any]) -> list[Event]:
    """The events of registered invoices (`ingest.invoices.Registered`): each new one was
    received and got its verdict; the same file seen again is no news."""
    found = []
    for inv in invoices:
        if not inv.created:
            continue
        found.append(Event(INVOICE_RECEIVED, message_id, inv.id))
        found.append(Event(INVOICE_EVENTS.get(inv.status, f"invoice.{inv.status}"),
                           message_id, inv.id))
    return found


def events_of(msg: Any, kind: str, invoices: list[Any]) -> list[Event]:
    """The events of one processed message and the invoices it carried."""
    return [Event(MESSAGE_STORED, msg.id, detail=kind), *invoice_events(msg.id, invoices)]


def record_events(ctx: Any, session: Any, events: list[Event], *, message: Any = None,
                  pec: Any = None, isolated: bool = True,
                  filters: dict[str, Any] | None = None) -> list[str]:
    """Record the events and, for a message, tell the observers; returns the observers'
    error texts (an invoice file imported on its own has no message to observe).
    `isolated=False`: an observer's failure raises instead; `filters`: the observers'
    filters for this message's group (see `observers.notify`)."""
    from wpec_invoicing.store.events import invoice_received
    from wpec_invoicing.store.models import ReceivedInvoice

    for event in events:
        log.info("%s message=%s invoice=%s %s", event.name, event.message_id,
                 event.invoice_id, event.detail or "")
        if event.name == INVOICE_RECEIVED and event.invoice_id is not None:
            # the integrator's events (`invoice.received`, then the verdict), in this
            # transaction: `events?after=ID` sees them exactly when the invoice exists
            inv = session.get(ReceivedInvoice, event.invoice_id)
            if inv is not None:
                invoice_received(session, inv, source=inv.source, message_id=event.message_id)
    if message is None:
        return []
    return notify(session, message, pec, ctx.observers, isolated=isolated, filters=filters)
