"""SdI notification files of both schema families: decode and build.

- B2B family (`.../docs/xsd/fattura/messaggi/v1.0`): RicevutaConsegna (RC), RicevutaScarto (NS),
  RicevutaImpossibilitaRecapito (MC), FileMetadati (MT). This is what real PEC traffic carries.
- PA family (`MessaggiTypes` v1.1, `http://www.fatturapa.gov.it/sdi/messaggi/v1.0`):
  RicevutaConsegna (RC), NotificaScarto (NS), NotificaMancataConsegna (MC), NotificaEsito (NE),
  NotificaDecorrenzaTermini (DT), AttestazioneTrasmissioneFattura (AT), MetadatiInvioFile (MT),
  NotificaEsitoCommittente (EC), ScartoEsitoCommittente (SE).

Dispatch is on the root's local name (and the `_TT_` of the file name when the root is
ambiguous), never on the namespace: real files get namespaces subtly wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

from wpec_invoicing.sdi.xmlsafe import XmlError, local_name, parse_xml

__all__ = [
    "B2B_NS",
    "PA_NS",
    "NotificationError",
    "RiferimentoFattura",
    "SdiError",
    "SdiNotification",
    "build_notification",
    "decode_notification",
    "mail_subject",
    "notification_file_name",
    "parse_notification_name",
]

B2B_NS = "http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fattura/messaggi/v1.0"
PA_NS = "http://www.fatturapa.gov.it/sdi/messaggi/v1.0"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"

KINDS = ("RC", "NS", "MC", "NE", "DT", "AT", "EC", "SE", "MT")

# root local name per (family, kind), and back
ROOTS: dict[tuple[str, str], str] = {
    ("b2b", "RC"): "RicevutaConsegna",
    ("b2b", "NS"): "RicevutaScarto",
    ("b2b", "MC"): "RicevutaImpossibilitaRecapito",
    ("b2b", "MT"): "FileMetadati",
    ("pa", "RC"): "RicevutaConsegna",
    ("pa", "NS"): "NotificaScarto",
    ("pa", "MC"): "NotificaMancataConsegna",
    ("pa", "NE"): "NotificaEsito",
    ("pa", "DT"): "NotificaDecorrenzaTermini",
    ("pa", "AT"): "AttestazioneTrasmissioneFattura",
    ("pa", "MT"): "MetadatiInvioFile",
    ("pa", "EC"): "NotificaEsitoCommittente",
    ("pa", "SE"): "ScartoEsitoCommittente",
}
_KIND_OF_ROOT: dict[str, tuple[str, str]] = {}
for (_family, _kind), _root in ROOTS.items():
    _KIND_OF_ROOT.setdefault(_root, (_family, _kind))
# RicevutaConsegna exists in both families: decided by the namespace when it says, else b2b.

_NAME = re.compile(
    r"^(?P<base>[A-Za-z]{2}[A-Za-z0-9]{2,28}_[A-Za-z0-9]{1,5})_(?P<tt>[A-Z]{2})_(?P<seq>[A-Za-z0-9]{3})"
    r"\.xml$",
    re.I,
)


class NotificationError(ValueError):
    """The bytes are not an SdI notification (the message says why)."""


@dataclass(frozen=True, slots=True)
class SdiError:
    """One entry of ListaErrori: SdI code, description, and (B2B) a suggestion."""

    code: str
    description: str
    suggestion: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "description": self.description, "suggestion": self.suggestion}


@dataclass(frozen=True, slots=True)
class RiferimentoFattura:
    """Which invoice of a lotto an esito refers to (PA family)."""

    numero: str
    anno: int
    posizione: int | None = None


@dataclass(frozen=True, slots=True)
class SdiNotification:
    """One SdI notification file, decoded. Dates are aware datetimes (or None)."""

    kind: str  # RC NS MC NE DT AT EC SE MT
    family: str  # b2b | pa
    identificativo_sdi: str
    nome_file: str | None = None
    hash: str | None = None
    data_ora_ricezione: datetime | None = None
    data_ora_consegna: datetime | None = None
    data_messa_a_disposizione: datetime | None = None
    destinatario_codice: str | None = None
    destinatario_descrizione: str | None = None
    message_id: str | None = None
    pec_message_id: str | None = None
    riferimento_archivio: str | None = None
    note: str | None = None
    errors: tuple[SdiError, ...] = ()
    esito: str | None = None  # NE / EC: EC01 accepted, EC02 refused; SE: EN00 / EN01
    descrizione: str | None = None
    message_id_committente: str | None = None
    riferimento_fattura: RiferimentoFattura | None = None
    codice_destinatario: str | None = None  # MT
    formato: str | None = None  # MT
    tentativi_invio: int | None = None  # MT
    hash_file_originale: str | None = None  # AT
    file_name: str | None = field(default=None, compare=False)
    signed: bool = field(default=False, compare=False)

    @property
    def root(self) -> str:
        return ROOTS[(self.family, self.kind)]

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "kind": self.kind,
            "family": self.family,
            "file_name": self.file_name,
            "identificativo_sdi": self.identificativo_sdi,
            "nome_file": self.nome_file,
            "hash": self.hash,
            "data_ora_ricezione": iso(self.data_ora_ricezione),
            "data_ora_consegna": iso(self.data_ora_consegna),
            "data_messa_a_disposizione": iso(self.data_messa_a_disposizione),
            "destinatario": (
                {"codice": self.destinatario_codice, "descrizione": self.destinatario_descrizione}
                if self.destinatario_codice or self.destinatario_descrizione
                else None
            ),
            "message_id": self.message_id,
            "esito": self.esito,
            "descrizione": self.descrizione,
            "errors": [e.to_json() for e in self.errors],
            "codice_destinatario": self.codice_destinatario,
            "formato": self.formato,
            "tentativi_invio": self.tentativi_invio,
            "note": self.note,
        }


def parse_notification_name(name: str) -> tuple[str, str, str] | None:
    """`IT01234567890_11111_RC_001.xml` → ("IT01234567890_11111", "RC", "001"), else None."""
    match = _NAME.match(name.strip())
    if not match or match.group("tt").upper() not in KINDS:
        return None
    return match.group("base"), match.group("tt").upper(), match.group("seq")


def notification_file_name(invoice_file_name: str, kind: str, seq: int | str = 1) -> str:
    """The name SdI gives a notification about `invoice_file_name` (any extension)."""
    base = invoice_file_name.strip()
    lowered = base.lower()
    for ext in (".xml.p7m", ".p7m", ".xml", ".zip"):
        if lowered.endswith(ext):
            base = base[: -len(ext)]
            break
    seq_text = f"{int(seq):03d}" if isinstance(seq, int) or str(seq).isdigit() else str(seq)
    return f"{base}_{kind.upper()}_{seq_text}.xml"


# ---------------------------------------------------------------------------------- decoding

def _parse_dt(value: str | None) -> datetime | None:
    if not value:
        return None
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        from zoneinfo import ZoneInfo

        parsed = parsed.replace(tzinfo=ZoneInfo("Europe/Rome"))
    return parsed


def _children(element: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for child in element:
        name = local_name(child)
        if name and name not in out:
            out[name] = child
    return out


def _t(element: Any | None) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def decode_notification(file_name: str | None, data: bytes) -> SdiNotification:
    """Decode an SdI notification file (XML; a .p7m must be opened by the caller first).

    Raises `NotificationError` when the bytes are not one: not XML, unknown root, no
    IdentificativoSdI.
    """
    try:
        root = parse_xml(data)
    except XmlError as exc:
        raise NotificationError(f"{file_name or 'notification'}: {exc}") from None
    root_name = local_name(root)
    known = _KIND_OF_ROOT.get(root_name)
    if known is None:
        raise NotificationError(
            f"{file_name or 'notification'}: root <{root_name}> is not an SdI notification"
        )
    family, kind = known
    namespace = root.tag.partition("}")[0].lstrip("{") if "}" in root.tag else ""
    if namespace == PA_NS and ("pa", kind) in ROOTS:
        family = "pa"
    elif namespace == B2B_NS and (("b2b", kind) in ROOTS):
        family = "b2b"
    c = _children(root)
    identificativo = _t(c.get("IdentificativoSdI"))
    if identificativo is None:
        raise NotificationError(f"{file_name or root_name}: IdentificativoSdI missing")

    errors: list[SdiError] = []
    lista = c.get("ListaErrori")
    if lista is not None:
        for errore in lista:
            if local_name(errore) != "Errore":
                continue
            e = _children(errore)
            errors.append(
                SdiError(_t(e.get("Codice")) or "", _t(e.get("Descrizione")) or "",
                         _t(e.get("Suggerimento")))
            )
    destinatario = c.get("Destinatario")
    dest_codice = dest_descr = None
    if destinatario is not None:
        d = _children(destinatario)
        if d:
            dest_codice, dest_descr = _t(d.get("Codice")), _t(d.get("Descrizione"))
        else:
            dest_descr = _t(destinatario)

    esito_el = c.get("Esito")
    esito = _t(esito_el)
    descrizione = _t(c.get("Descrizione"))
    mid_committente = _t(c.get("MessageIdCommittente"))
    rif_el = c.get("RiferimentoFattura")
    esito_committente = c.get("EsitoCommittente")
    if esito_committente is not None:  # NE wraps the customer's EC
        ec = _children(esito_committente)
        esito = _t(ec.get("Esito"))
        descrizione = _t(ec.get("Descrizione"))
        mid_committente = _t(ec.get("MessageIdCommittente"))
        rif_el = ec.get("RiferimentoFattura", rif_el)
    if kind == "SE":
        esito = _t(c.get("Scarto"))
    riferimento = None
    if rif_el is not None:
        r = _children(rif_el)
        try:
            anno = int(_t(r.get("AnnoFattura")) or 0)
            pos_text = _t(r.get("PosizioneFattura"))
            riferimento = RiferimentoFattura(
                _t(r.get("NumeroFattura")) or "", anno, int(pos_text) if pos_text else None
            )
        except ValueError:
            riferimento = None
    tentativi = _t(c.get("TentativiInvio"))
    return SdiNotification(
        kind=kind,
        family=family,
        identificativo_sdi=identificativo,
        nome_file=_t(c.get("NomeFile")),
        hash=_t(c.get("Hash")),
        data_ora_ricezione=_parse_dt(_t(c.get("DataOraRicezione"))),
        data_ora_consegna=_parse_dt(_t(c.get("DataOraConsegna"))),
        data_messa_a_disposizione=_parse_dt(_t(c.get("DataMessaADisposizione"))),
        destinatario_codice=dest_codice,
        destinatario_descrizione=dest_descr,
        message_id=_t(c.get("MessageId")),
        pec_message_id=_t(c.get("PecMessageId")),
        riferimento_archivio=_t(c.get("RiferimentoArchivio")),
        note=_t(c.get("Note")),
        errors=tuple(errors),
        esito=esito,
        descrizione=descrizione,
        message_id_committente=mid_committente,
        riferimento_fattura=riferimento,
        codice_destinatario=_t(c.get("CodiceDestinatario")),
        formato=_t(c.get("Formato")),
        tentativi_invio=int(tentativi) if tentativi and tentativi.isdigit() else None,
        hash_file_originale=_t(c.get("HashFileOriginale")),
        file_name=file_name,
        signed="Signature" in c,
    )


# ---------------------------------------------------------------------------------- building

def _dt(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat(timespec="milliseconds")
    return value.isoformat()


def build_notification(notification: SdiNotification) -> bytes:
    """The XML file SdI would send for `notification` (elements in schema order, UTF-8).

    Raises `NotificationError` for a kind the chosen family does not have (e.g. NE in b2b).
    """
    n = notification
    key = (n.family, n.kind)
    if key not in ROOTS:
        raise NotificationError(f"{n.kind} does not exist in the {n.family} family")
    root = ROOTS[key]
    ns = B2B_NS if n.family == "b2b" else PA_NS
    prefix = "ns3" if n.family == "b2b" else "types"
    body: list[str] = []

    def el(name: str, value: object | None, indent: str = "  ") -> None:
        if value is not None:
            body.append(f"{indent}<{name}>{escape(str(value))}</{name}>")

    def riferimento() -> None:
        r = n.riferimento_fattura
        if r is None:
            return
        body.append("  <RiferimentoFattura>")
        el("NumeroFattura", r.numero, "    ")
        el("AnnoFattura", r.anno, "    ")
        el("PosizioneFattura", r.posizione, "    ")
        body.append("  </RiferimentoFattura>")

    def lista_errori() -> None:
        body.append("  <ListaErrori>")
        for e in n.errors:
            body.append("    <Errore>")
            el("Codice", e.code, "      ")
            el("Descrizione", e.description, "      ")
            if n.family == "b2b":
                el("Suggerimento", e.suggestion, "      ")
            body.append("    </Errore>")
        body.append("  </ListaErrori>")

    def destinatario() -> None:
        if n.destinatario_codice is None and n.destinatario_descrizione is None:
            return
        body.append("  <Destinatario>")
        el("Codice", n.destinatario_codice, "    ")
        el("Descrizione", n.destinatario_descrizione, "    ")
        body.append("  </Destinatario>")

    el("IdentificativoSdI", n.identificativo_sdi)
    kind = n.kind
    if kind in ("EC", "SE"):
        riferimento()
        if kind == "EC":
            el("Esito", n.esito)
            el("Descrizione", n.descrizione)
            el("MessageIdCommittente", n.message_id_committente)
        else:
            el("Scarto", n.esito)
            el("MessageId", n.message_id)
            el("PecMessageId", n.pec_message_id)
            el("Note", n.note)
    elif kind == "DT":
        riferimento()
        el("NomeFile", n.nome_file)
        el("Hash", n.hash)
        el("Descrizione", n.descrizione)
        el("MessageId", n.message_id)
        el("PecMessageId", n.pec_message_id)
        el("Note", n.note)
    elif kind == "MT":
        el("NomeFile", n.nome_file)
        if n.family == "b2b":
            el("Hash", n.hash)
        el("CodiceDestinatario", n.codice_destinatario)
        el("Formato", n.formato)
        el("TentativiInvio", n.tentativi_invio)
        el("MessageId", n.message_id)
        el("Note", n.note)
    elif kind == "NE":
        el("NomeFile", n.nome_file)
        el("Hash", n.hash)
        body.append("  <EsitoCommittente>")
        el("IdentificativoSdI", n.identificativo_sdi, "    ")
        if n.riferimento_fattura is not None:
            r = n.riferimento_fattura
            body.append("    <RiferimentoFattura>")
            el("NumeroFattura", r.numero, "      ")
            el("AnnoFattura", r.anno, "      ")
            el("PosizioneFattura", r.posizione, "      ")
            body.append("    </RiferimentoFattura>")
        el("Esito", n.esito, "    ")
        el("Descrizione", n.descrizione, "    ")
        el("MessageIdCommittente", n.message_id_committente, "    ")
        body.append("  </EsitoCommittente>")
        el("MessageId", n.message_id)
        el("PecMessageId", n.pec_message_id)
        el("Note", n.note)
    else:  # RC NS MC AT
        el("NomeFile", n.nome_file)
        el("Hash", n.hash)
        el("DataOraRicezione", _dt(n.data_ora_ricezione))
        if kind in ("RC",):
            el("DataOraConsegna", _dt(n.data_ora_consegna))
        if kind in ("RC", "AT"):
            destinatario()
        if kind == "MC" and n.family == "b2b":
            el("DataMessaADisposizione", _dt(n.data_messa_a_disposizione))
        el("RiferimentoArchivio", n.riferimento_archivio)
        if kind == "NS":
            lista_errori()
        if kind == "MC" and n.family == "pa":
            el("Descrizione", n.descrizione)
        el("MessageId", n.message_id)
        el("PecMessageId", n.pec_message_id)
        el("Note", n.note)
        if kind == "AT":
            el("HashFileOriginale", n.hash_file_originale)
    versione = ' versione="1.0"' if n.family == "b2b" else ' versione="1.1"'
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<{prefix}:{root} xmlns:{prefix}="{ns}" xmlns:ds="{DS_NS}"{versione}>'
    )
    tail = f"</{prefix}:{root}>\n"
    return "\n".join([head, *body, tail]).encode("utf-8")


# Subjects of SdI's PEC messages as seen in real traffic ("Invio File 7339338", ...).
_SUBJECTS = {
    "invoice": "Invio File",
    "RC": "Ricevuta di consegna",
    "NS": "Notifica di scarto",
    "MC": "Notifica di mancata consegna",
    "NE": "Notifica di esito",
    "DT": "Notifica di decorrenza termini",
    "AT": "Attestazione di avvenuta trasmissione della fattura con impossibilità di recapito",
    "SE": "Notifica di scarto esito committente",
    "EC": "Notifica di esito committente",
    "MT": "Invio File",
}


def mail_subject(kind: str, identificativo_sdi: str | int, *, simulazione: bool = False) -> str:
    """The Subject SdI gives the PEC carrying `kind` (`invoice` or a notification type);
    `simulazione` adds the `(SIMULAZIONE)` mark of SdI's test environment."""
    text = f"{_SUBJECTS[kind if kind == 'invoice' else kind.upper()]} {identificativo_sdi}"
    return f"{text} (SIMULAZIONE)" if simulazione else text
