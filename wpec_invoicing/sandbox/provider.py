"""The sandbox PEC provider: the policy of a "gestore" (what a real one accepts, signs, delivers).

Shape (as aiosmtpd's): the policy lives here, in `PecProvider` (pure Python, callable from
tests) and in the SMTP handlers of `smtp.py`; the life cycle lives in the controller.

For each submitted message, as a real provider does:
- the sender must be the authenticated account and the `From:` (else refused / not accepted);
- not accepted (signed AVVISO DI NON ACCETTAZIONE) when: a Bcc is present, size × recipients
  is over the limit, an attachment carries the virus test marker (EICAR);
- accepted: a signed ACCETTAZIONE to the sender; a signed transport envelope (daticert.xml +
  postacert.eml) APPENDed to each recipient's INBOX; per recipient a delivery receipt, or a
  delivery failure (unknown mailbox, mailbox over quota), or, when the recipient's side does
  not answer, a preavviso after a configurable time; receipts completa/breve/sintetica as the
  sender's `X-TipoRicevuta` asks.
- ordinary mail from outside (the plain inbound port) lands as an ANOMALIA envelope.
Everything is synchronous in the calling thread, except the preavviso timers: when an SMTP
DATA is answered 250, its receipts are already in the mailboxes.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses, parseaddr
from typing import Any

from wpec_invoicing.sandbox import pecmail
from wpec_invoicing.sandbox.accounts import Account, AccountRegistry, Gestore
from wpec_invoicing.sandbox.mailstore import DeliveryError, ImapMailstore
from wpec_invoicing.sandbox.submission import Submission
from wpec_invoicing.sandbox.throttle import Throttle

_log = logging.getLogger(__name__)

# The EICAR antivirus test string: the "virus" of the sandbox (an attachment containing it).
EICAR = rb"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
DEFAULT_MAX_TOTAL_BYTES = 30 * 1024 * 1024
RECEIPT_TYPES = ("completa", "breve", "sintetica")
MAX_EVENTS = 100_000


@dataclass
class Event:
    """One thing the provider did (for tests, the selftest and the console)."""

    kind: str
    identificativo: str | None
    sender: str | None
    recipient: str | None = None
    detail: str | None = None
    at: float = field(default_factory=time.time)


class SubmissionRefused(Exception):
    """Refused at the SMTP level (not a PEC notice): `reply` is the SMTP reply line."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


def _address(value: str | None) -> str:
    return parseaddr(value or "")[1].strip().lower()


def _h(msg: email.message.Message, name: str) -> str:
    """A header as text (compat32 gives a Header object for non-ASCII raw values)."""
    value = msg.get(name)
    return "" if value is None else str(value)


def _header_addresses(msg: email.message.Message, *names: str) -> list[str]:
    values: list[str] = []
    for name in names:
        values += [str(v) for v in msg.get_all(name, [])]
    return [addr.strip().lower() for _n, addr in getaddresses(values) if addr.strip()]


def has_virus_marker(msg: email.message.Message) -> bool:
    """True when a decoded part (attachment or text) contains the EICAR test string."""
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            payload = part.get_payload(decode=True)
        except Exception:  # noqa: S112 - a part that cannot be decoded is not a virus
            continue
        if isinstance(payload, bytes) and EICAR in payload:
            return True
    return False


class PecProvider:
    """The gestori of the sandbox: accept, certify, deliver, receipt.

    `observers` are called as `fn(recipient, submission)` after a certified message was
    delivered to a recipient's INBOX (SdI hooks in here).
    """

    def __init__(
        self,
        accounts: AccountRegistry,
        mailstore: ImapMailstore,
        signers: Callable[[Gestore], pecmail.Provider],
        *,
        max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
        preavviso_after: float = 5.0,
        mancata_consegna_after: float | None = None,
        throttle: Throttle | None = None,
    ) -> None:
        self.accounts = accounts
        self.mailstore = mailstore
        self._signers = signers
        self.max_total_bytes = max_total_bytes
        self.preavviso_after = preavviso_after
        self.mancata_consegna_after = mancata_consegna_after
        self.throttle = throttle or Throttle()
        self.observers: list[Callable[[str, Submission], None]] = []
        # The most recent things done (bounded: `wpec sandbox up` may run for days).
        self.events: deque[Event] = deque(maxlen=MAX_EVENTS)
        self._lock = threading.Lock()
        self._seq = itertools.count(1)
        self._pending: dict[str, list[tuple[Submission, threading.Timer | None]]] = {}
        self.drop_next_data = False
        self.lifecycle: Any = None  # sandbox.lifecycle.SandboxLifecycle, set by the Sandbox

    # -- bookkeeping -------------------------------------------------------------------------
    def _event(self, kind: str, sub: Submission | None, recipient: str | None = None,
               detail: str | None = None, sender: str | None = None) -> None:
        with self._lock:
            self.events.append(Event(kind, sub.identificativo if sub else None,
                                     sub.sender if sub else sender, recipient, detail))

    def events_of(self, kind: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]

    def new_identificativo(self, gestore: Gestore) -> str:
        now = datetime.now(UTC)
        return (f"opec{os.getpid() % 1000:03d}.{now:%Y%m%d%H%M%S}.{next(self._seq):05d}."
                f"{time.monotonic_ns() % 100000:05d}.1.1@{gestore.domain}")

    def _store(self, user: str, raw: bytes) -> None:
        """APPEND a notice to a sandbox box; a box that cannot take it only gets logged (a
        real provider's receipts to a full box are lost the same way)."""
        try:
            self.mailstore.append(user, raw)
        except DeliveryError as exc:
            _log.warning("receipt for %s not stored: %s", user, exc.detail)

    # -- submission (authenticated SMTP) -----------------------------------------------------
    def check_sender(self, login: str, mail_from: str) -> None:
        """MAIL FROM must be the authenticated account (Aruba: 'not logged in')."""
        if _address(mail_from) != login.lower():
            raise SubmissionRefused(
                f"553 5.7.1 <{mail_from}>: Sender address rejected: not owned by user {login}")

    def submit(self, login: str, mail_from: str, rcpt_tos: list[str], raw: bytes
               ) -> Submission:
        """Take a message in charge (after DATA): acceptance or non-acceptance, then delivery.

        Called by the SMTP handler, and directly by sandbox actors (SdI), which then are not
        throttled (throttling is an SMTP matter). Returns the Submission: its identificativo
        is what the 250 reply quotes, `delivered` lists the INBOXes reached.
        """
        self.check_sender(login, mail_from)
        sender = login.lower()
        gestore = self.accounts.gestore_of(sender)
        if gestore is None:
            raise SubmissionRefused(f"550 5.7.1 {sender} is not a mailbox of this provider")
        msg = email.message_from_bytes(raw, policy=email.policy.compat32)
        recipients = tuple(dict.fromkeys(r.strip().lower() for r in rcpt_tos))
        receipt_type = (_h(msg, "X-TipoRicevuta") or "completa").strip().lower()
        if receipt_type not in RECEIPT_TYPES:
            receipt_type = "completa"
        sub = Submission(
            identificativo=self.new_identificativo(gestore),
            sender=sender,
            recipients=recipients,
            raw=raw,
            message_id=_h(msg, "Message-ID").strip() or None,
            subject=pecmail.decode_subject(_h(msg, "Subject")),
            timestamp=datetime.now(UTC).astimezone(),
            receipt_type=receipt_type,
            gestore=gestore,
        )
        reason = self._refusal(sub, msg, login)
        signer = self._signers(gestore)
        if reason is not None:
            errore, text = reason
            self._store(sender, pecmail.non_acceptance(sub, signer, errore=errore, reason=text))
            self._event("non-accettazione", sub, detail=text)
            return sub
        self._store(sender, pecmail.acceptance(sub, signer))
        self._event("accettazione", sub)
        envelope = pecmail.transport_envelope(sub, signer)
        for recipient in recipients:
            self._deliver(sub, recipient, envelope)
        return sub

    def _refusal(self, sub: Submission, msg: email.message.Message,
                 login: str) -> tuple[str, str] | None:
        """Why the provider does not accept this message: (daticert errore, text), or None."""
        from_addrs = _header_addresses(msg, "From")
        if from_addrs != [login.lower()]:
            shown = ", ".join(from_addrs) or "(none)"
            return "altro", (f"il mittente del messaggio (From: {shown}) non corrisponde "
                             f"all'utente autenticato {login}")
        visible = set(_header_addresses(msg, "To", "Cc"))
        if msg.get_all("Bcc") or any(r not in visible for r in sub.recipients):
            return "altro", ("destinatari in copia nascosta (Bcc) non ammessi: ogni "
                             "destinatario deve comparire in To o Cc")
        total = len(sub.raw) * max(1, len(sub.recipients))
        if total > self.max_total_bytes:
            return "altro", (f"dimensione del messaggio ({len(sub.raw)} byte) per numero di "
                             f"destinatari ({len(sub.recipients)}) oltre il limite di "
                             f"{self.max_total_bytes} byte")
        if has_virus_marker(msg):
            return "virus", "virus rilevato in un allegato del messaggio (EICAR test file)"
        return None

    # -- delivery ----------------------------------------------------------------------------
    def _deliver(self, sub: Submission, recipient: str, envelope: bytes) -> None:
        gestore = self.accounts.gestore_of(recipient)
        if gestore is None:
            # Not a PEC box of the sandbox: the message leaves for an ordinary mail system;
            # as with real PEC, no delivery receipt ever comes back for an "esterno" address.
            self._event("esterno", sub, recipient)
            return
        account = self.accounts.get(recipient)
        rsigner = self._signers(gestore)
        if account is None:
            self._fail(sub, recipient, rsigner, "no-dest",
                       f"5.1.1 - {gestore.name} - indirizzo non valido: casella {recipient} "
                       "inesistente")
            return
        refusal = self.lifecycle.delivery_refusal(recipient) if self.lifecycle else None
        if refusal is not None:  # suspended, deactivated or purged: cannot receive
            self._fail(sub, recipient, rsigner, *refusal)
            return
        if account.stalled:
            self._hold(sub, account)
            return
        self._append_and_receipt(sub, account, envelope, rsigner)

    def _append_and_receipt(self, sub: Submission, account: Account, envelope: bytes,
                            rsigner: pecmail.Provider) -> None:
        recipient = account.address
        try:
            if account.quota_bytes is not None:
                used = self.mailstore.usage(recipient)
                if used + len(envelope) > account.quota_bytes:
                    raise DeliveryError("over-quota",
                                        f"5.2.2 - {recipient}: casella piena (mailbox full)")
            self.mailstore.append(recipient, envelope)
        except DeliveryError as exc:
            errore = "no-dest" if exc.reason == "no-dest" else "altro"
            self._fail(sub, recipient, rsigner, errore, exc.detail)
            return
        sub.delivered.append(recipient)
        self._store(sub.sender, pecmail.delivery_receipt(sub, recipient, rsigner))
        self._event("avvenuta-consegna", sub, recipient)
        for observer in list(self.observers):
            try:
                observer(recipient, sub)
            except Exception:  # an observer (SdI) must never break delivery
                _log.exception("observer failed for %s", recipient)

    def _fail(self, sub: Submission, recipient: str, signer: pecmail.Provider, errore: str,
              detail: str) -> None:
        self._store(sub.sender, pecmail.delivery_error(sub, recipient, signer, errore=errore,
                                                       detail=detail))
        self._event("errore-consegna", sub, recipient, detail)

    # -- stalled recipients: preavviso -------------------------------------------------------
    def _hold(self, sub: Submission, account: Account) -> None:
        timer = threading.Timer(self.preavviso_after, self._timeout, args=(sub, account.address))
        timer.daemon = True
        with self._lock:
            self._pending.setdefault(account.address, []).append((sub, timer))
        self._event("in-attesa", sub, account.address)
        timer.start()

    def _timeout(self, sub: Submission, recipient: str) -> None:
        signer = self._signers(sub.gestore)
        self._store(sub.sender, pecmail.preavviso(sub, recipient, signer))
        self._event("preavviso-errore-consegna", sub, recipient)
        if self.mancata_consegna_after is not None:
            timer = threading.Timer(self.mancata_consegna_after, self._expire,
                                    args=(sub, recipient))
            timer.daemon = True
            with self._lock:
                self._pending.setdefault(recipient, []).append((sub, timer))
            timer.start()

    def _expire(self, sub: Submission, recipient: str) -> None:
        with self._lock:
            items = self._pending.get(recipient, [])
            self._pending[recipient] = [(s, t) for s, t in items if s is not sub]
        self._fail(sub, recipient, self._signers(sub.gestore), "altro",
                   f"4.4.7 - {recipient}: consegna non riuscita entro il tempo massimo")

    def release(self, address: str) -> int:
        """The recipient's side answers again: deliver what was held. Returns how many."""
        self.accounts.update(address, stalled=False)
        with self._lock:
            items = self._pending.pop(address.lower(), [])
        delivered = 0
        seen: set[str] = set()
        for sub, timer in items:
            if timer is not None:
                timer.cancel()
            if sub.identificativo in seen:
                continue
            seen.add(sub.identificativo)
            account = self.accounts.get(address)
            gestore = self.accounts.gestore_of(address)
            if account is None or gestore is None:
                continue
            envelope = pecmail.transport_envelope(sub, self._signers(sub.gestore))
            self._append_and_receipt(sub, account, envelope, self._signers(gestore))
            delivered += 1
        return delivered

    def cancel_timers(self) -> None:
        with self._lock:
            for items in self._pending.values():
                for _sub, timer in items:
                    if timer is not None:
                        timer.cancel()

    # -- ordinary mail from outside ------------------------------------------------------------
    def receive_plain(self, mail_from: str, rcpt_tos: list[str], raw: bytes) -> None:
        """Non-PEC mail entering PEC boxes: each recipient gets an ANOMALIA envelope."""
        for recipient in dict.fromkeys(r.lower() for r in rcpt_tos):
            gestore = self.accounts.gestore_of(recipient)
            if gestore is None or self.accounts.get(recipient) is None:
                continue
            anomaly = pecmail.anomaly(raw, recipient, self._signers(gestore),
                                      self.new_identificativo(gestore))
            self._store(recipient, anomaly)
            self._event("anomalia", None, recipient, sender=mail_from)
