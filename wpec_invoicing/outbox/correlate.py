"""Receipts and SdI notifications → the state of what we sent (the sync's message observer).

`on_message(session, stored_message, pec_message)` is called by the sync (and the importer)
for every stored message, inside its transaction (TEAM.md observer contract). Two levels:
- provider receipts, matched by the Message-ID they reference (X-Riferimento-Message-ID) and
  then by the provider's identificativo: accepted / not accepted (reason) / delivered per
  recipient / failed / preavviso;
- SdI notifications (inside a transport envelope from sdiNN@pec.fatturapa.it), matched by file
  name (also `.xml.p7m`) and IdentificativoSdI: RC NS MC NE DT AT via `sdi.lifecycle`; the
  sdiNN address they come from is learned for later sends of that account.
Idempotent: the same message seen twice adds no second event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from wpec_invoicing.outbox.records import account_state, add_event, aware, raise_alert, utcnow
from wpec_invoicing.sdi.lifecycle import (
    InvoiceState,
    advance,
    invoice_base_name,
    state_for_provider,
    state_for_sdi,
)
from wpec_invoicing.store.events import record_event
from wpec_invoicing.store.outbox_models import OutboxAlert, OutboxEvent, OutboxItem

log = logging.getLogger(__name__)

PROVIDER_STATE = {
    "accettazione": "accepted",
    "non-accettazione": "not-accepted",
    "presa-in-carico": None,  # between providers: a timeline entry only
    "avvenuta-consegna": "delivered",
    "errore-consegna": "delivery-failed",
    "preavviso-errore-consegna": "preavviso",
    "rilevazione-virus": "delivery-failed",
}
# A later receipt never takes an item back to an earlier provider state.
_PROVIDER_RANK = {None: 0, "accepted": 1, "preavviso": 2, "delivered": 3,
                  "delivery-failed": 3, "not-accepted": 4}


def _kind(pec: Any) -> str:
    kind = getattr(pec, "kind", None)
    return str(getattr(kind, "value", kind) or "")


# SdI messages that are not about our sends: an invoice for us (passive cycle), its metadata,
# PA-side messages.
_NOT_OURS_SDI = frozenset({"INVOICE", "MT", "EC", "SE"})


def concerns(pec_message: Any) -> bool:
    """Whether `on_message` could do anything with this message: a provider receipt, or an
    SdI notification about an invoice. Decided from the parsed message alone (no query), so
    the pipeline skips the observer for the rest of the box (invoices, ordinary mail)."""
    kind = _kind(pec_message)
    if kind in PROVIDER_STATE:
        return True
    sdi = getattr(pec_message, "sdi", None)
    return (kind == "posta-certificata" and sdi is not None
            and (sdi.kind or "").upper() not in _NOT_OURS_SDI)


def prepare(session: Session, pec_messages: Sequence[Any]) -> Callable[[Any], bool]:
    """For a group of messages `concerns` accepted: which of them match anything we sent.

    One query each for the group's receipts (every referenced Message-ID and identificativo
    at once) and its SdI notifications (file names and IdentificativoSdI), instead of one or
    two per message; the returned filter says, per message, whether `on_message` can find
    an item (the same matching, so it is never stricter). On a first sync of a big box most
    receipts are about messages sent long ago or from elsewhere: they cost nothing more."""
    refs, idents, names, sdi_ids = set(), set(), set(), set()
    for pec in pec_messages:
        if _kind(pec) in PROVIDER_STATE:
            ref = _ref(pec)
            if ref:
                refs.add(ref)
            if getattr(pec, "identificativo", None):
                idents.add(pec.identificativo)
        else:
            name, ident_sdi = _sdi_keys(pec)
            if name:
                names.add(name)
            if ident_sdi:
                sdi_ids.add(ident_sdi)
    found_refs, found_idents, found_bases, found_sdi = set(), set(), set(), set()
    if refs or idents:
        for ref, ident in session.execute(
                select(OutboxItem.message_id, OutboxItem.provider_identificativo).where(
                    or_(OutboxItem.message_id.in_(refs),
                        OutboxItem.provider_identificativo.in_(idents)))):
            found_refs.add(ref)
            found_idents.add(ident)
    if names or sdi_ids:
        bases = {invoice_base_name(n) for n in names}
        for file_name, ident_sdi in session.execute(
                select(OutboxItem.file_name, OutboxItem.identificativo_sdi).where(
                    OutboxItem.kind == "invoice",
                    or_(OutboxItem.identificativo_sdi.in_(sdi_ids),
                        OutboxItem.file_name.in_(names),
                        *(OutboxItem.file_name.like(f"{b}.%") for b in bases)))):
            if file_name:
                found_bases.add(invoice_base_name(file_name))
            found_sdi.add(ident_sdi)

    def matches(pec: Any) -> bool:
        if _kind(pec) in PROVIDER_STATE:
            return (_ref(pec) in found_refs
                    or getattr(pec, "identificativo", None) in found_idents)
        name, ident_sdi = _sdi_keys(pec)
        return ((name is not None and invoice_base_name(name) in found_bases)
                or (ident_sdi is not None and ident_sdi in found_sdi))

    return matches


def _ref(pec: Any) -> str | None:
    """The Message-ID a receipt refers to, as we store ours (in angle brackets)."""
    ref = (getattr(pec, "ref_message_id", None) or "").strip()
    if not ref:
        return None
    return ref if ref.startswith("<") else f"<{ref}>"


def _sdi_keys(pec: Any) -> tuple[str | None, str | None]:
    """The file name and IdentificativoSdI an SdI notification is about."""
    payload = pec.sdi
    notification = getattr(payload, "notification", None)
    name = (getattr(notification, "nome_file", None) if notification else None) \
        or payload.file_name
    ident = payload.identificativo_sdi
    return name or None, str(ident) if ident else None


def on_message(session: Session, stored_message: Any, pec_message: Any) -> None:
    """The observer: never raises for a message that is simply not ours."""
    if not concerns(pec_message):
        return
    kind = _kind(pec_message)
    if kind in PROVIDER_STATE:
        _on_receipt(session, stored_message, pec_message, kind)
    else:
        _on_sdi(session, stored_message, pec_message)


def _unproven(pec: Any) -> str | None:
    """Why this receipt proves nothing, or None when a provider really signed it.

    A receipt moves an item's state only as evidence: an unsigned, tampered or untrusted
    "ACCETTAZIONE" (anyone can write that Subject) must not mark an invoice accepted. With no
    trust store configured, `trusted` is unknown and an intact signature is taken as it is.
    """
    sig = getattr(pec, "signature", None)
    if sig is None or not getattr(sig, "present", False):
        return "it carries no provider signature"
    if sig.intact is not True:
        return f"its provider signature is not intact ({sig.reason or 'no reason given'})"
    if sig.trusted is False:
        return f"its signer is not a trusted PEC provider ({sig.reason or 'no reason given'})"
    return None


def _ignore_unproven(session: Session, item: OutboxItem, what: str, problem: str) -> None:
    log.warning("%s for outbox item %s ignored: %s", what, item.id, problem)
    raise_alert(session, "unproven-message",
                f"{what} about {item.file_name or item.message_id} ignored: {problem}",
                account=item.account, item_id=item.id)


def _already_recorded(session: Session, item: OutboxItem, stored_message: Any) -> bool:
    msg_id = getattr(stored_message, "id", None)
    if msg_id is None:
        return False
    return session.scalar(select(OutboxEvent.id).where(
        OutboxEvent.item_id == item.id, OutboxEvent.message_id == msg_id).limit(1)) is not None


def _find_by_receipt(session: Session, pec: Any) -> OutboxItem | None:
    ref = _ref(pec)
    if ref:
        item = session.scalar(select(OutboxItem).where(OutboxItem.message_id == ref))
        if item is not None:
            return item
    ident = getattr(pec, "identificativo", None)
    if ident:
        return session.scalar(select(OutboxItem).where(
            OutboxItem.provider_identificativo == ident).limit(1))
    return None


def _on_receipt(session: Session, stored: Any, pec: Any, kind: str) -> None:
    item = _find_by_receipt(session, pec)
    if item is None or _already_recorded(session, item, stored):
        return
    problem = _unproven(pec)
    if problem:
        _ignore_unproven(session, item, f"a {kind} receipt", problem)
        return
    now = utcnow()
    ident = getattr(pec, "identificativo", None)
    if ident and not item.provider_identificativo:
        item.provider_identificativo = ident
    error = getattr(pec, "error", None)
    if error and str(error).lower() == "nessuno":  # daticert's "no error"
        error = None
    reason = " - ".join(x for x in (error, getattr(pec, "error_detail", None)) if x) or None
    new_state = PROVIDER_STATE[kind]
    if _PROVIDER_RANK.get(new_state, 0) > _PROVIDER_RANK.get(item.provider_state, 0):
        item.provider_state = new_state
    if kind == "accettazione":
        item.accepted_at = item.accepted_at or aware(getattr(pec, "timestamp", None)) or now
        _resolve_no_acceptance(session, item)
    elif kind == "avvenuta-consegna":
        item.delivered_at = aware(getattr(pec, "timestamp", None)) or now
    if kind in ("non-accettazione", "errore-consegna", "rilevazione-virus") and reason:
        item.provider_reason = reason
    if item.status in ("sending", "verify", "checking", "queued") and kind != "non-accettazione":
        # The provider took it: whatever we believed, it went out (and will not go again).
        item.status = "sent"
        item.sent_at = item.sent_at or now
    if kind == "non-accettazione" and item.status != "failed":
        item.status = "failed"
        item.last_error = f"not accepted by the provider: {reason or 'no reason given'}"
    if item.kind == "invoice":
        item.sdi_state = advance(InvoiceState(item.sdi_state or "queued"),
                                 state_for_provider(kind)).value
    detail = kind
    delivered_to = getattr(pec, "delivered_to", None)
    if delivered_to:
        detail += f" for {delivered_to}"
    if reason:
        detail += f": {reason}"
    add_event(session, item, "provider", kind, detail,
              data={"identificativo": ident, "delivered_to": delivered_to},
              message_id=getattr(stored, "id", None))


def _resolve_no_acceptance(session: Session, item: OutboxItem) -> None:
    for alert in session.scalars(select(OutboxAlert).where(
            OutboxAlert.item_id == item.id, OutboxAlert.kind == "no-acceptance",
            OutboxAlert.resolved_at.is_(None))):
        alert.resolved_at = utcnow()
        record_event(session, "alert.cleared", "alert", alert.id, {"kind": alert.kind})


def _find_invoice_item(session: Session, file_name: str | None,
                       identificativo_sdi: str | None) -> OutboxItem | None:
    if file_name:
        base = invoice_base_name(file_name)
        rows = session.scalars(select(OutboxItem).where(
            OutboxItem.kind == "invoice",
            (OutboxItem.file_name == file_name) | OutboxItem.file_name.like(f"{base}.%"),
        ).order_by(OutboxItem.id.desc()))
        for row in rows:
            if row.file_name and invoice_base_name(row.file_name) == base:
                return row
    if identificativo_sdi:
        return session.scalar(select(OutboxItem).where(
            OutboxItem.kind == "invoice",
            OutboxItem.identificativo_sdi == str(identificativo_sdi)).limit(1))
    return None


def _on_sdi(session: Session, stored: Any, pec: Any) -> None:
    payload = pec.sdi
    kind = (payload.kind or "").upper()
    notification = getattr(payload, "notification", None)
    name, ident_sdi = _sdi_keys(pec)
    item = _find_invoice_item(session, name, ident_sdi)
    if item is None:
        log.info("SdI %s for %s matches nothing we sent", kind, name)
        return
    if getattr(payload, "authentic", False) is not True:
        # Only a signed PEC envelope whose certified sender is SdI proves an SdI outcome; a
        # look-alike must neither change the invoice's state nor teach us an SdI address.
        _ignore_unproven(session, item, f"an SdI {kind}",
                         getattr(payload, "authentic_reason", None) or "not authentic")
        return
    _learn_sdi_address(session, item.account, payload.sdi_address or getattr(pec, "sender", None))
    if _already_recorded(session, item, stored):
        return
    esito = getattr(notification, "esito", None) if notification else None
    new_state = state_for_sdi(kind, esito)
    if payload.identificativo_sdi and not item.identificativo_sdi:
        item.identificativo_sdi = str(payload.identificativo_sdi)
    errors = [e.to_json() if hasattr(e, "to_json") else {"code": e.code,
                                                         "description": e.description}
              for e in (payload.errors or ())]
    if kind == "NS":
        item.sdi_errors = errors
    if item.status in ("sending", "verify", "checking", "queued"):
        item.status = "sent"  # SdI answered: it certainly went out
        item.sent_at = item.sent_at or utcnow()
    before = InvoiceState(item.sdi_state or "queued")
    item.sdi_state = advance(before, new_state).value
    detail = kind
    if esito:
        detail += f" {esito}"
    if errors:
        detail += ": " + "; ".join(f"{e['code']} {e['description']}" for e in errors)
    add_event(session, item, "sdi", kind, detail,
              data={"identificativo_sdi": payload.identificativo_sdi, "errors": errors,
                    "esito": esito, "file_name": payload.file_name},
              message_id=getattr(stored, "id", None))


def _learn_sdi_address(session: Session, account: str, address: str | None) -> None:
    """SdI answers from its dedicated address for this sender: use it from now on."""
    if not address:
        return
    address = address.strip().lower()
    local, _, domain = address.partition("@")
    if domain != "pec.fatturapa.it" or not local.startswith("sdi") or local == "sdi01":
        return
    state = account_state(session, account)
    if state.sdi_address != address:
        state.sdi_address = address
        state.sdi_address_learned_at = utcnow()


def check_overdue(session: Session, timeout: timedelta) -> int:
    """Alert once for every message sent longer than `timeout` ago with no acceptance."""
    limit = utcnow() - timeout
    count = 0
    for item in session.scalars(select(OutboxItem).where(
            OutboxItem.status == "sent", OutboxItem.provider_state.is_(None),
            OutboxItem.alerted_no_acceptance.is_(False), OutboxItem.sent_at < limit)):
        item.alerted_no_acceptance = True
        raise_alert(session, "no-acceptance",
                    f"no acceptance receipt for {item.file_name or item.subject!r} to "
                    f"{item.recipient} (Message-ID {item.message_id}) since "
                    f"{aware(item.sent_at).isoformat()}", account=item.account, item_id=item.id)
        add_event(session, item, "outbox", "no-acceptance",
                  f"no acceptance within {timeout.total_seconds() / 60:g} minutes")
        count += 1
    return count
