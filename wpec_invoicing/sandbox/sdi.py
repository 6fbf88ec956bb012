"""SdI inside the sandbox: receives invoice files by PEC, checks them, answers as SdI does.

For each file received at `sdi01@pec.fatturapa.it` (or a dedicated `sdiNN@...`):
file name (00001), duplicate name (00002), size (00003), signature of a `.p7m` (00102), XSD
(00200) and the local semantic checks (via `fatturapa.read_invoice`) →
- a RicevutaScarto (NS) with ListaErrori, or
- the invoice is delivered to the recipient — found by PECDestinatario, or by
  CodiceDestinatario / customer VAT number in a configurable directory — as SdI sends it (a PEC
  from SdI with the file and its `_MT_` FileMetadati), then a RicevutaConsegna (RC), or
- a RicevutaImpossibilitaRecapito (MC) when there is no recipient or delivery fails;
- FPA12: after the RC, by configuration, a NotificaEsito (NE, EC01 accepted / EC02 refused)
  or a NotificaDecorrenzaTermini (DT).
Every answer is a PEC from one dedicated address per sender (learned by the product).

Work happens on a worker thread (SdI answers after the provider's delivery, never inside it);
`wait_idle()` tells when everything received has been answered.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import hashlib
import json
import logging
import queue
import re
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wpec_invoicing.sandbox.accounts import SDI_DEDICATED, SDI_DOMAIN

if TYPE_CHECKING:
    from wpec_invoicing.sandbox.provider import PecProvider
    from wpec_invoicing.sandbox.submission import Submission

_log = logging.getLogger(__name__)

MAX_FILE_BYTES = 5 * 1024 * 1024  # 00003
# Where SdI delivers by CodiceDestinatario or customer VAT number (the "registration" service).
DEFAULT_DIRECTORY = {
    "IT12345678903": "cliente@pec.sandbox.test",  # the samples' customer
    "IT01234567897": "azienda@pec.sandbox.test",  # the sandbox company
    "UFABCD": "comune@pec.sandbox.test",  # a PA office code (FPA12)
    "ABC1234": "cliente@pec.sandbox.test",
}
PA_OUTCOMES = (None, "EC01", "EC02", "DT")

SUGGESTIONS = {
    "00001": "Verificare che il nome del file rispetti la nomenclatura prevista",
    "00002": "Inviare il file con un nome (progressivo) mai utilizzato prima",
    "00003": "Ridurre la dimensione del file (massimo 5 MB)",
    "00102": "Verificare la firma del file",
    "00200": "Verificare che il file sia conforme allo schema XSD del formato FatturaPA",
}


@dataclass(frozen=True)
class Outcome:
    """What SdI did with one file (also kept in `SdiSimulator.outcomes`)."""

    file_name: str
    identificativo_sdi: str
    sender: str
    kind: str  # NS | RC | MC (+ NE/DT follow-ups listed in `followups`)
    errors: tuple[tuple[str, str], ...] = ()
    recipient: str | None = None
    followups: tuple[str, ...] = ()


def notification_name(invoice_name: str, kind: str) -> str:
    """`<invoice name without extension>_<TT>_001.xml`; for a name SdI refused (00001) a
    well-formed stand-in, so the notification itself stays recognisable (its NomeFile keeps
    the name as received)."""
    from wpec_invoicing.sdi import notification_file_name, parse_notification_name

    candidate = notification_file_name(invoice_name or "IT00000000000_00000.xml", kind, 1)
    if parse_notification_name(candidate):
        return candidate
    stem = re.sub(r"(\.(xml|p7m|zip))+$", "", invoice_name or "", flags=re.I)
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", stem) if p]
    if len(parts) >= 2:
        candidate = f"{parts[0][:30]}_{parts[-1][:5]}_{kind}_001.xml"
        if parse_notification_name(candidate):
            return candidate
    digest = hashlib.sha256((invoice_name or "").encode()).hexdigest()[:5]
    return f"IT00000000000_{digest}_{kind}_001.xml"


def _attachments(raw: bytes) -> list[tuple[str, bytes]]:
    """(file name, bytes) of each attached file of a plain (client) message."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    files: list[tuple[str, bytes]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = part.get_filename()
        if not name:
            continue
        try:
            name = str(email.header.make_header(email.header.decode_header(name)))
        except (ValueError, LookupError, UnicodeError):
            name = str(name)
        data = part.get_payload(decode=True)
        if isinstance(data, bytes):
            files.append((name, data))
    return files


class SdiSimulator:
    """SdI's behaviour on top of the sandbox provider."""

    def __init__(self, provider: PecProvider, state_dir: Path, *, delay: float = 0.0,
                 pa_outcome: str | None = "EC01",
                 routing: dict[str, str] | None = None) -> None:
        if pa_outcome not in PA_OUTCOMES:
            raise ValueError(f"pa_outcome must be one of {PA_OUTCOMES}")
        self.provider = provider
        self.state_dir = Path(state_dir)
        self.delay = delay
        self.pa_outcome = pa_outcome
        self.routing = {**DEFAULT_DIRECTORY, **{k.upper(): v.lower()
                                                for k, v in (routing or {}).items()}}
        self.outcomes: list[Outcome] = []
        self._queue: queue.Queue[tuple[str, Any] | None] = queue.Queue()
        self._pending = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._state_lock = threading.Lock()
        self._state = self._load_state()

    # -- persistent state: names already received (00002) and the identifier counters --------
    @property
    def _state_path(self) -> Path:
        return self.state_dir / "state.json"

    def _load_state(self) -> dict[str, Any]:
        try:
            state = json.loads(self._state_path.read_text(encoding="utf-8"))
            if isinstance(state, dict):
                return state
        except (OSError, ValueError):
            pass
        return {"next_id": 100000001, "names": []}

    def _save_state(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        tmp = self._state_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._state), encoding="utf-8")
        tmp.replace(self._state_path)

    def _new_id(self) -> str:
        with self._state_lock:
            value = int(self._state["next_id"])
            self._state["next_id"] = value + 1
            self._save_state()
            return str(value)

    def _seen(self, name: str) -> bool:
        """Record a received file name; True if it had been received before (00002)."""
        key = name.lower()
        with self._state_lock:
            names = self._state.setdefault("names", [])
            if key in names:
                return True
            names.append(key)
            self._save_state()
            return False

    # -- worker ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._work, name="sandbox-sdi", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

    def _submit_job(self, kind: str, payload: Any) -> None:
        with self._cond:
            self._pending += 1
        self._queue.put((kind, payload))

    def _work(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                if self.delay:
                    time.sleep(self.delay)
                kind, payload = job
                if kind == "received":
                    self._process_message(*payload)
                elif kind == "inject":
                    self._deliver_invoice(*payload)
            except Exception:
                _log.exception("SdI failed on a job")
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def wait_idle(self, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    # -- receiving ---------------------------------------------------------------------------
    def on_delivered(self, recipient: str, sub: Submission) -> None:
        """Provider observer: a certified message reached one of SdI's boxes."""
        if recipient.rpartition("@")[2].lower() != SDI_DOMAIN:
            return
        if sub.sender.rpartition("@")[2].lower() == SDI_DOMAIN:
            return  # SdI does not answer SdI
        self._submit_job("received", (recipient, sub))

    def dedicated_address(self, sender: str) -> str:
        """The sdiNN address SdI uses with this sender (stable per sender)."""
        return SDI_DEDICATED[zlib.crc32(sender.lower().encode()) % len(SDI_DEDICATED)]

    def _process_message(self, recipient: str, sub: Submission) -> None:
        files = _attachments(sub.raw)
        if not files:
            _log.info("SdI: message %s from %s carries no file: ignored", sub.identificativo,
                      sub.sender)
            return
        for name, data in files:
            self._process_file(sub.sender, name, data, sub)

    def check_file(self, name: str, data: bytes, *, duplicate: bool = False
                   ) -> tuple[list[tuple[str, str]], Any]:
        """SdI's checks on one file: (errors as (code, description), InvoiceReport|None)."""
        from wpec_invoicing.fatturapa import is_valid_file_name, read_invoice

        if not is_valid_file_name(name):
            return [("00001", f"Nome file non valido: {name}")], None
        if duplicate:
            return [("00002", f"Nome file duplicato: {name}")], None
        if len(data) > MAX_FILE_BYTES:
            return [("00003", f"File di dimensioni superiori al limite: {len(data)} byte")], None
        report = read_invoice(data, file_name=name)
        errors: list[tuple[str, str]] = []
        sig = report.signature
        if sig is not None and sig.present and sig.intact is False:
            errors.append(("00102", f"File non integro (firma non valida): {sig.reason or ''}"
                                    .strip()))
            return errors, report
        if not report.readable or not report.schema_valid:
            detail = report.error or "; ".join(
                f"{e.message} (riga {e.line})" if getattr(e, "line", None) else e.message
                for e in report.schema_errors[:5]) or "file non conforme al formato"
            return [("00200", f"File non conforme al formato : {detail}")], report
        seen: set[tuple[str, str]] = set()
        for check in report.checks:
            item = (check.code, check.message + (f" ({check.path})" if check.path else ""))
            if item not in seen:
                seen.add(item)
                errors.append(item)
        return errors, report

    def _process_file(self, sender: str, name: str, data: bytes, sub: Submission) -> None:
        ident = self._new_id()
        received = datetime.now(UTC).astimezone()
        file_hash = hashlib.sha256(data).hexdigest()
        duplicate = self._seen(name) if name else False
        errors, report = self.check_file(name, data, duplicate=duplicate)
        if errors:
            self._notify(sender, name, "NS", ident, hash_=file_hash, received=received,
                         errors=errors, subject="Notifica di scarto")
            self._record(Outcome(name, ident, sender, "NS", tuple(errors)))
            return
        doc = report.document
        fmt = getattr(doc, "format", None) or report.format
        target = self.route(doc)
        delivered = False
        if target is not None:
            delivered = self._deliver_to_recipient(target, name, data, ident, doc, file_hash)
        if not delivered:
            self._notify(sender, name, "MC", ident, hash_=file_hash, received=received,
                         subject="Notifica di mancata consegna", mc_available=received)
            self._record(Outcome(name, ident, sender, "MC", recipient=target))
            return
        self._notify(sender, name, "RC", ident, hash_=file_hash, received=received,
                     delivered=datetime.now(UTC).astimezone(), recipient_code=self._code(doc),
                     subject="Ricevuta di consegna")
        followups: list[str] = []
        if fmt == "FPA12" and self.pa_outcome is not None:
            if self.pa_outcome in ("EC01", "EC02"):
                self._notify(sender, name, "NE", ident, hash_=file_hash, esito=self.pa_outcome,
                             subject="Notifica di esito", doc=doc)
                followups.append(f"NE:{self.pa_outcome}")
            else:
                self._notify(sender, name, "DT", ident, hash_=file_hash,
                             subject="Notifica decorrenza termini", doc=doc)
                followups.append("DT")
        self._record(Outcome(name, ident, sender, "RC", recipient=target,
                             followups=tuple(followups)))

    def _record(self, outcome: Outcome) -> None:
        with self._cond:
            self.outcomes.append(outcome)
        self.provider._event(f"sdi-{outcome.kind}", None, outcome.recipient,
                             detail=f"{outcome.file_name} id={outcome.identificativo_sdi} "
                                    + " ".join(c for c, _d in outcome.errors),
                             sender=outcome.sender)

    # -- routing and delivery ----------------------------------------------------------------
    @staticmethod
    def _code(doc: Any) -> str | None:
        tx = getattr(doc, "transmission", None)
        return getattr(tx, "codice_destinatario", None)

    def route(self, doc: Any) -> str | None:
        """The PEC address SdI delivers the invoice to, or None."""
        tx = getattr(doc, "transmission", None)
        pec = getattr(tx, "pec_destinatario", None)
        if pec:
            return str(pec).strip().lower()
        code = (getattr(tx, "codice_destinatario", None) or "").strip().upper()
        if code and code != "0000000" and code in self.routing:
            return self.routing[code]
        customer = getattr(doc, "customer", None)
        vat = getattr(customer, "vat", None)
        if vat is not None:
            key = f"{vat.country}{vat.code}".upper()
            if key in self.routing:
                return self.routing[key]
        return None

    def _deliver_to_recipient(self, target: str, name: str, data: bytes, ident: str, doc: Any,
                              file_hash: str) -> bool:
        from wpec_invoicing.pec.builder import compose
        from wpec_invoicing.sdi import SdiNotification, build_notification, notification_file_name

        if self.provider.accounts.get(target) is None:
            return False
        fmt = getattr(doc, "format", None) or "FPR12"
        mt = build_notification(SdiNotification(
            kind="MT", family="b2b", identificativo_sdi=ident, nome_file=name, hash=file_hash,
            codice_destinatario=self._code(doc) or "0000000", formato=fmt, tentativi_invio=1,
            message_id=self._new_id()))
        mt_name = notification_file_name(name, "MT", 1)
        sdi_from = self.dedicated_address(target)
        raw = compose(
            sender=sdi_from, to=[target], subject=f"Invio File {ident}",
            text=(f"Il Sistema di Interscambio ha ricevuto il file {name} con identificativo "
                  f"{ident} e lo recapita in allegato insieme al file dei metadati.\n"),
            attachments=[(name, data, "application/octet-stream" if name.lower().endswith(
                ".p7m") else "application/xml"), (mt_name, mt, "application/xml")],
        )
        sub = self.provider.submit(sdi_from, sdi_from, [target], raw)
        return target in sub.delivered

    def _notify(self, to: str, name: str, kind: str, ident: str, *, hash_: str,
                subject: str, received: datetime | None = None,
                delivered: datetime | None = None, errors: list[tuple[str, str]] | None = None,
                recipient_code: str | None = None, mc_available: datetime | None = None,
                esito: str | None = None, doc: Any = None) -> None:
        from wpec_invoicing.pec.builder import compose
        from wpec_invoicing.sdi import (
            RiferimentoFattura,
            SdiError,
            SdiNotification,
            build_notification,
        )

        family = "pa" if kind in ("NE", "DT") else "b2b"
        riferimento = None
        if kind in ("NE", "DT") and doc is not None and getattr(doc, "bodies", None):
            body = doc.bodies[0]
            riferimento = RiferimentoFattura(numero=body.number, anno=body.date.year,
                                             posizione=1)
        note = SdiNotification(
            kind=kind, family=family, identificativo_sdi=ident, nome_file=name, hash=hash_,
            data_ora_ricezione=received, data_ora_consegna=delivered,
            data_messa_a_disposizione=mc_available,
            destinatario_codice=recipient_code if kind == "RC" else None,
            destinatario_descrizione="Destinatario (sandbox)" if kind == "RC" else None,
            errors=tuple(SdiError(code, desc, SUGGESTIONS.get(code))
                         for code, desc in (errors or [])),
            esito=esito,
            descrizione=({"EC01": "Fattura accettata", "EC02": "Fattura rifiutata"}.get(esito)
                         if esito else ("Decorrenza termini" if kind == "DT" else None)),
            riferimento_fattura=riferimento,
            message_id=self._new_id(),
        )
        data = build_notification(note)
        file_name = notification_name(name, kind)
        sdi_from = self.dedicated_address(to)
        raw = compose(
            sender=sdi_from, to=[to], subject=f"{subject} {ident}",
            text=f"{subject} relativa al file {name} (identificativo SdI {ident}).\n",
            attachments=[(file_name, data, "application/xml")],
        )
        if self.provider.accounts.get(to) is None:
            _log.info("SdI: %s for %s not sent: %s is not a sandbox box", kind, name, to)
            return
        self.provider.submit(sdi_from, sdi_from, [to], raw)

    # -- the supplier simulator ----------------------------------------------------------------
    def inject_invoice(self, data: bytes, file_name: str, *, to: str,
                       wait: float | None = 10.0) -> str:
        """A supplier's invoice reaches `to` through SdI (as if SdI had accepted it): a PEC
        from SdI with the file and its `_MT_` metadata. Returns the IdentificativoSdI."""
        ident = self._new_id()
        self._submit_job("inject", (to.lower(), file_name, data, ident))
        if wait:
            self.wait_idle(wait)
        return ident

    def _deliver_invoice(self, to: str, file_name: str, data: bytes, ident: str) -> None:
        from wpec_invoicing.fatturapa import read_invoice

        report = read_invoice(data, file_name=file_name, lenient=True)
        ok = self._deliver_to_recipient(to, file_name, data, ident, report.document,
                                        hashlib.sha256(data).hexdigest())
        self._record(Outcome(file_name, ident, "(supplier)", "RC" if ok else "MC", recipient=to))
