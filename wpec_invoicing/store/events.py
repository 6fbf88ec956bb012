"""`record_event`: the one way any layer writes an integrator-visible event.

It lives in the store (not in `app/`) because services call it inside their own transactions
(the outbox when a receipt arrives, the passive rules when an invoice is verified) and imports
point down only. Reading events is `app.events`.

Why a lock: PostgreSQL hands out sequence values at INSERT time, but transactions commit in
their own order. Without care, event 11 can commit while event 10 is still in flight; a reader
that has seen 11 and asks for `after=11` would never see 10. `record_event` therefore takes a
transaction-level advisory lock before drawing the id: event writers go one after another
from that point to their commit, so ids become visible in increasing order and `after=ID` is
a complete cursor. The services record events at the end of their change, so the lock is
held briefly. SQLite needs nothing: it has one writer at a time (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from wpec_invoicing.store.batch import insert_row

EVENT_LOCK_ID = 0x77_70_65_65  # "wpee"
MAX_TEXT = 500


def record_event(session: Session, type_: str, subject_type: str, subject_id: Any,
                 payload: dict[str, Any] | None = None) -> None:
    """Write one event in the caller's transaction (see the module docstring)."""
    from wpec_invoicing.store.app_models import Event, utcnow

    # A plain INSERT (its id drawn under the lock, which is held to the commit), not an ORM
    # object: nobody reads an event back as an object in the transaction that wrote it, and
    # the unit of work cost four times the statement. Written now, or with the other rows
    # of the caller's `store.batch.deferred_inserts` block, in the order they were recorded:
    # events get their ids in that order, and a savepoint's rollback undoes them.
    insert_row(session, Event.__table__, {
        "type": type_[:60], "at": utcnow(), "subject_type": subject_type,
        "subject_id": str(subject_id), "payload": _small(payload)},
        before=_LOCKED if session.get_bind().dialect.name == "postgresql" else None)


_LOCK = text("SELECT pg_advisory_xact_lock(:k)")
_LOCKED = (_LOCK, {"k": EVENT_LOCK_ID})


def _small(payload: dict[str, Any] | None) -> dict[str, Any] | None:
    """Payloads stay small and JSON-safe: the subject's id says where the rest is."""
    if payload is None:
        return None
    return {k: _safe(v) for k, v in payload.items() if v is not None}


def _safe(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else value[:MAX_TEXT] + "…"
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value[:50]]
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in list(value.items())[:50]}
    if value is None or isinstance(value, (int, float, bool)):
        return value
    return str(value)


# -- payloads the services share (one call per state-change point stays one line) ------------
QUIET_OUTBOX_EVENTS = frozenset({"throttled", "blocked", "recipient", "not-found-yet",
                                 "verify-later", "replaces"})
SUBJECTS = {"invoice": "sent_invoice", "mail": "outbox_item", "auto-reply": "outbox_item"}
PREFIXES = {"invoice": "sent_invoice", "mail": "mail", "auto-reply": "auto_reply"}


def outbox_event(session: Session, item: Any, source: str, event: str, detail: str | None,
                 data: dict | None) -> None:
    """The integrator's event for one outbox timeline entry (quiet ones are skipped)."""
    if event in QUIET_OUTBOX_EVENTS or item.id is None:
        return
    payload: dict[str, Any] = {
        "source": source, "event": event, "status": item.status,
        "provider_state": item.provider_state, "sdi_state": item.sdi_state,
        "file_name": item.file_name, "recipient": item.recipient, "detail": detail,
    }
    if data:
        errors = data.get("errors")
        if errors:
            payload["codes"] = [e.get("code") for e in errors if isinstance(e, dict)]
        payload["esito"] = data.get("esito")
        payload["identificativo_sdi"] = data.get("identificativo_sdi")
    if item.kind == "mail":
        from sqlalchemy import select

        from wpec_invoicing.store.app_models import MailingItem

        # While a mailing is being queued its items are not linked yet: the session says.
        payload["mailing_id"] = session.scalar(
            select(MailingItem.mailing_id).where(MailingItem.item_id == item.id)
        ) or session.info.get("mailing_id")
    record_event(session, f"{PREFIXES.get(item.kind, 'outbox')}.{event}",
                 SUBJECTS.get(item.kind, "outbox_item"), item.id, payload)


def invoice_event(session: Session, inv: Any, event: str, **extra: Any) -> None:
    """The integrator's event for a received invoice (received, verified, approved…)."""
    record_event(session, f"invoice.{event}", "received_invoice", inv.id, {
        "status": inv.status, "supplier_vat": inv.supplier_vat, "number": inv.number,
        "date": inv.invoice_date, "total": inv.total,
        "reasons": [r.get("code") for r in (inv.reasons or []) if isinstance(r, dict)],
        **extra})


def invoice_received(session: Session, inv: Any, **extra: Any) -> None:
    """A new received invoice: `invoice.received`, then its verdict (`invoice.verified`,
    `invoice.needs-review` or `invoice.refused`)."""
    invoice_event(session, inv, "received", **extra)
    invoice_event(session, inv, inv.status)
