"""The events stage says what happened to a message: stored, and for each new supplier
invoice, received with its verdict; the same file seen again is no news."""

from __future__ import annotations

from types import SimpleNamespace

from wpec_invoicing.ingest.events import events_of
from wpec_invoicing.ingest.invoices import Registered


def test_a_message_with_a_new_and_an_old_invoice() -> None:
    msg = SimpleNamespace(id=41)
    events = events_of(msg, "sdi-invoice", [Registered(7, "needs-review", True),
                                            Registered(3, "verified", False)])
    assert [(e.name, e.invoice_id) for e in events] == [
        ("message.stored", None), ("invoice.received", 7), ("invoice.needs-review", 7)]
    assert all(e.message_id == 41 for e in events)
    assert events[0].detail == "sdi-invoice"


def test_every_verdict_has_its_event() -> None:
    names = {events_of(SimpleNamespace(id=1), "sdi-invoice", [Registered(1, status, True)])[-1]
             .name for status in ("verified", "needs-review", "refused")}
    assert names == {"invoice.verified", "invoice.needs-review", "invoice.refused"}
