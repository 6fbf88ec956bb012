"""The life of an invoice we sent: provider receipts and SdI notifications → one state.

Pure: values in, values out. The outbox feeds it events in the order they are *synced*, which
is not always the order they happened (an SdI RC can be fetched before the provider's delivery
receipt to SdI's box). So the state only moves forward along a rank, and an SdI outcome is
never overwritten by a late provider receipt: "never confuse a provider receipt with an SdI
receipt" (FATTURAPA_SDI.md).

Two levels, kept apart:
- provider level: queued → sent → accepted → delivered-to-sdi (or not-accepted / failed);
- SdI level: RC delivered | NS rejected | MC not delivered (made available) | NE EC01/EC02 |
  DT | AT.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class InvoiceState(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"  # handed to our provider over SMTP
    ACCEPTED = "accepted"  # provider ACCETTAZIONE
    NOT_ACCEPTED = "not-accepted"  # provider AVVISO DI NON ACCETTAZIONE
    DELIVERED_TO_SDI = "delivered-to-sdi"  # provider CONSEGNA into SdI's box
    SEND_FAILED = "send-failed"  # provider MANCATA CONSEGNA / refused by SMTP for good
    DELIVERED = "delivered"  # SdI RC: delivered to the customer
    REJECTED = "rejected"  # SdI NS: scartata, with ListaErrori
    NOT_DELIVERED = "not-delivered"  # SdI MC: made available in the customer's reserved area
    ACCEPTED_BY_PA = "accepted-by-pa"  # SdI NE EC01
    REFUSED_BY_PA = "refused-by-pa"  # SdI NE EC02
    TERMS_EXPIRED = "terms-expired"  # SdI DT: the PA did not answer within 15 days
    TRANSMISSION_ATTESTED = "transmission-attested"  # SdI AT: impossible to deliver to the PA


# Forward-only rank. States of equal rank replace each other only where listed in _REPLACES.
_RANK: dict[InvoiceState, int] = {
    InvoiceState.QUEUED: 0,
    InvoiceState.SENT: 1,
    InvoiceState.ACCEPTED: 2,
    InvoiceState.DELIVERED_TO_SDI: 3,
    InvoiceState.NOT_ACCEPTED: 3,
    InvoiceState.SEND_FAILED: 3,
    InvoiceState.DELIVERED: 4,
    InvoiceState.NOT_DELIVERED: 4,
    InvoiceState.REJECTED: 6,
    InvoiceState.ACCEPTED_BY_PA: 5,
    InvoiceState.REFUSED_BY_PA: 5,
    InvoiceState.TERMS_EXPIRED: 5,
    InvoiceState.TRANSMISSION_ATTESTED: 5,
}

#: States in which nothing more is expected (the invoice's story is over).
FINAL_STATES = frozenset(
    {
        InvoiceState.REJECTED,
        InvoiceState.NOT_ACCEPTED,
        InvoiceState.SEND_FAILED,
        InvoiceState.ACCEPTED_BY_PA,
        InvoiceState.REFUSED_BY_PA,
        InvoiceState.TERMS_EXPIRED,
        InvoiceState.TRANSMISSION_ATTESTED,
    }
)
#: States where the B2B story is over (RC and MC end it for private customers; PA flows may add
#: NE/DT/AT later).
SETTLED_STATES = FINAL_STATES | {InvoiceState.DELIVERED, InvoiceState.NOT_DELIVERED}

_SDI_KIND_TO_STATE = {
    "RC": InvoiceState.DELIVERED,
    "NS": InvoiceState.REJECTED,
    "MC": InvoiceState.NOT_DELIVERED,
    "DT": InvoiceState.TERMS_EXPIRED,
    "AT": InvoiceState.TRANSMISSION_ATTESTED,
}

_PROVIDER_KIND_TO_STATE = {
    "sent": InvoiceState.SENT,
    "accettazione": InvoiceState.ACCEPTED,
    "non-accettazione": InvoiceState.NOT_ACCEPTED,
    "avvenuta-consegna": InvoiceState.DELIVERED_TO_SDI,
    "errore-consegna": InvoiceState.SEND_FAILED,
    "rilevazione-virus": InvoiceState.SEND_FAILED,
}


def state_for_sdi(kind: str, esito: str | None = None) -> InvoiceState | None:
    """The state an SdI notification of `kind` (RC, NS, MC, NE, DT, AT) means, or None for the
    kinds that say nothing about an invoice we sent (MT, EC, SE, invoice)."""
    kind = (kind or "").upper()
    if kind == "NE":
        esito = (esito or "").upper()
        if esito == "EC01":
            return InvoiceState.ACCEPTED_BY_PA
        if esito == "EC02":
            return InvoiceState.REFUSED_BY_PA
        return None
    return _SDI_KIND_TO_STATE.get(kind)


def state_for_provider(kind: str) -> InvoiceState | None:
    """The state a provider event means (`sent`, or a PEC receipt kind); None for the others
    (presa-in-carico, preavviso: worth a timeline entry, not a state change)."""
    return _PROVIDER_KIND_TO_STATE.get(kind)


def advance(current: InvoiceState, new: InvoiceState | None) -> InvoiceState:
    """The state after an event: forward only, a rejection is final, SdI beats provider."""
    if new is None or new == current:
        return current
    if current in FINAL_STATES:
        return current
    if _RANK[new] > _RANK[current]:
        return new
    # Same rank, later news: MC → RC can happen (delivered after being made available).
    if current == InvoiceState.NOT_DELIVERED and new == InvoiceState.DELIVERED:
        return new
    return current


@dataclass(frozen=True)
class Transition:
    before: InvoiceState
    after: InvoiceState

    @property
    def changed(self) -> bool:
        return self.before != self.after


def apply_sdi(current: InvoiceState, kind: str, esito: str | None = None) -> Transition:
    return Transition(current, advance(current, state_for_sdi(kind, esito)))


def apply_provider(current: InvoiceState, kind: str) -> Transition:
    return Transition(current, advance(current, state_for_provider(kind)))


# --- matching notifications to invoices -----------------------------------------------------
_INVOICE_EXT = re.compile(r"\.(xml\.p7m|xml|p7m|zip)$", re.IGNORECASE)
_NOTIFICATION = re.compile(
    r"^(?P<base>.+)_(?P<kind>RC|NS|MC|NE|DT|AT|EC|SE|MT)_(?P<seq>[A-Za-z0-9]{1,3})\.xml(\.p7m)?$",
    re.IGNORECASE,
)


def invoice_base_name(file_name: str) -> str:
    """`IT01234567890_00001.xml.p7m` → `IT01234567890_00001` (the key SdI notifications use)."""
    name = file_name.strip().rsplit("/", 1)[-1]
    previous = None
    while previous != name:  # `.xml.p7m`, and the odd `.p7m.p7m`
        previous = name
        name = _INVOICE_EXT.sub("", name)
    return name


def notification_parts(file_name: str) -> tuple[str, str] | None:
    """`IT01234567890_00001_RC_001.xml` → (`IT01234567890_00001`, `RC`); None if not one."""
    match = _NOTIFICATION.match(file_name.strip().rsplit("/", 1)[-1])
    if not match:
        return None
    return match.group("base"), match.group("kind").upper()


def same_invoice(sent_file_name: str, notified_file_name: str) -> bool:
    """Does a notification's NomeFile (or its own file name) refer to the file we sent?

    SdI's NomeFile echoes our name, possibly with `.p7m`; the notification's own file name has
    the base plus `_TT_nnn`. Extensions compare case-insensitively, the base exactly.
    """
    ours = invoice_base_name(sent_file_name)
    parts = notification_parts(notified_file_name)
    theirs = parts[0] if parts else invoice_base_name(notified_file_name)
    return ours == theirs
