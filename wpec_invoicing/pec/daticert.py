"""daticert.xml: the provider's certification data, read (tolerantly) and written (exactly).

Reader and writer share the `Daticert` value, so what the builder writes reads back equal.
Real-world quirks survived by the reader: stray text between elements, a `msgid` left
unescaped (`<msgid><abc@host></msgid>`, which breaks the XML: we escape it and retry, and the
caller can fall back to the X-Riferimento-Message-ID header), unknown `errore` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from wpec_invoicing.sdi.xmlsafe import XmlError, local_name, parse_xml

__all__ = ["Daticert", "DaticertError", "Destinatario", "parse_daticert"]

ERRORI = ("nessuno", "no-dest", "no-dominio", "virus", "altro")


class DaticertError(ValueError):
    """daticert.xml is not readable at all (not XML, or not a `postacert` document)."""


@dataclass(frozen=True, slots=True)
class Destinatario:
    """One recipient as certified: `tipo` is `certificato` (a PEC box) or `esterno`."""

    address: str
    tipo: str = "certificato"


@dataclass(frozen=True, slots=True)
class Daticert:
    """Every field of daticert.xml. `timestamp` is aware (from `data/@zona`); None only when
    a received daticert has no readable date (the problem is listed)."""

    tipo: str
    mittente: str
    destinatari: tuple[Destinatario, ...]
    risposte: str
    gestore: str
    timestamp: datetime | None
    identificativo: str
    errore: str = "nessuno"
    oggetto: str | None = None
    msgid: str | None = None
    ricevuta: str | None = None
    consegna: str | None = None
    ricezione: tuple[str, ...] = ()
    errore_esteso: str | None = None
    problems: tuple[str, ...] = field(default=(), compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "tipo": self.tipo,
            "errore": self.errore,
            "mittente": self.mittente,
            "destinatari": [{"address": d.address, "tipo": d.tipo} for d in self.destinatari],
            "risposte": self.risposte,
            "oggetto": self.oggetto,
            "gestore_emittente": self.gestore,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "identificativo": self.identificativo,
            "msgid": self.msgid,
            "ricevuta": self.ricevuta,
            "consegna": self.consegna,
            "ricezione": list(self.ricezione),
            "errore_esteso": self.errore_esteso,
        }

    def to_xml(self) -> bytes:
        """The XML a provider writes (UTF-8, declaration first, elements in schema order)."""
        if self.timestamp is None or self.timestamp.tzinfo is None:
            raise ValueError("daticert needs an aware timestamp")
        zona = self.timestamp.strftime("%z") or "+0000"
        lines = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            f"<postacert tipo={quoteattr(self.tipo)} errore={quoteattr(self.errore)}>",
            "  <intestazione>",
            f"    <mittente>{escape(self.mittente)}</mittente>",
        ]
        lines += [
            f"    <destinatari tipo={quoteattr(d.tipo)}>{escape(d.address)}</destinatari>"
            for d in self.destinatari
        ]
        lines.append(f"    <risposte>{escape(self.risposte)}</risposte>")
        if self.oggetto is not None:
            lines.append(f"    <oggetto>{escape(self.oggetto)}</oggetto>")
        lines += [
            "  </intestazione>",
            "  <dati>",
            f"    <gestore-emittente>{escape(self.gestore)}</gestore-emittente>",
            f"    <data zona={quoteattr(zona)}>",
            f"      <giorno>{self.timestamp:%d/%m/%Y}</giorno>",
            f"      <ora>{self.timestamp:%H:%M:%S}</ora>",
            "    </data>",
            f"    <identificativo>{escape(self.identificativo)}</identificativo>",
        ]
        if self.msgid is not None:
            lines.append(f"    <msgid>{escape(self.msgid)}</msgid>")
        if self.ricevuta is not None:
            lines.append(f"    <ricevuta tipo={quoteattr(self.ricevuta)} />")
        if self.consegna is not None:
            lines.append(f"    <consegna>{escape(self.consegna)}</consegna>")
        lines += [f"    <ricezione>{escape(r)}</ricezione>" for r in self.ricezione]
        if self.errore_esteso is not None:
            lines.append(f"    <errore-esteso>{escape(self.errore_esteso)}</errore-esteso>")
        lines += ["  </dati>", "</postacert>", ""]
        return "\r\n".join(lines).encode("utf-8")


_MSGID = re.compile(rb"(<msgid>)(.*?)(</msgid>)", re.S)
_ZONA = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


def _escape_msgid(data: bytes) -> bytes:
    def fix(match: re.Match[bytes]) -> bytes:
        inner = match.group(2)
        if b"<" not in inner and b">" not in inner:
            return match.group(0)
        inner = inner.replace(b"&", b"&amp;").replace(b"<", b"&lt;").replace(b">", b"&gt;")
        return match.group(1) + inner + match.group(3)

    return _MSGID.sub(fix, data)


def _zone(zona: str | None) -> timezone:
    match = _ZONA.match((zona or "").strip())
    if not match:
        return UTC
    sign = -1 if match.group(1) == "-" else 1
    offset = timedelta(hours=int(match.group(2)), minutes=int(match.group(3)))
    return timezone(sign * offset)


def _timestamp(giorno: str, ora: str, zona: str | None) -> datetime:
    naive = datetime.strptime(f"{giorno.strip()} {ora.strip()}", "%d/%m/%Y %H:%M:%S")
    return naive.replace(tzinfo=_zone(zona))


def _text(element: Any) -> str:
    return "".join(element.itertext()).strip()


def parse_daticert(data: bytes) -> Daticert:
    """Read daticert.xml; raise `DaticertError` only when nothing usable is there.

    Missing fields become empty strings / None and are listed in `problems`.
    """
    problems: list[str] = []
    try:
        root = parse_xml(data)
    except XmlError as first:
        fixed = _escape_msgid(data)
        try:
            root = parse_xml(fixed)
            problems.append("daticert: msgid was not XML-escaped")
        except XmlError:
            try:
                root = parse_xml(fixed, recover=True)
                problems.append(f"daticert: recovered from broken XML ({first})")
            except XmlError as exc:
                raise DaticertError(f"daticert.xml unreadable: {exc}") from None
    if local_name(root) != "postacert":
        raise DaticertError(f"daticert.xml root is <{local_name(root)}>, not <postacert>")

    values: dict[str, Any] = {"destinatari": [], "ricezione": []}
    zona: str | None = None
    giorno = ora = ""
    for element in root.iter():
        name = local_name(element)
        if name == "mittente":
            values["mittente"] = _text(element)
        elif name == "destinatari":
            values["destinatari"].append(
                Destinatario(_text(element), (element.get("tipo") or "certificato").strip())
            )
        elif name == "risposte":
            values["risposte"] = _text(element)
        elif name == "oggetto":
            values["oggetto"] = "".join(element.itertext())
        elif name == "gestore-emittente":
            values["gestore"] = _text(element)
        elif name == "data":
            zona = element.get("zona")
        elif name == "giorno":
            giorno = _text(element)
        elif name == "ora":
            ora = _text(element)
        elif name == "identificativo":
            values["identificativo"] = _text(element)
        elif name == "msgid":
            values["msgid"] = _text(element) or None
        elif name == "ricevuta":
            values["ricevuta"] = (element.get("tipo") or "").strip() or None
        elif name == "consegna":
            values["consegna"] = _text(element)
        elif name == "ricezione":
            values["ricezione"].append(_text(element))
        elif name == "errore-esteso":
            values["errore_esteso"] = _text(element)

    tipo = (root.get("tipo") or "").strip()
    errore = (root.get("errore") or "nessuno").strip() or "nessuno"
    if errore not in ERRORI:
        problems.append(f"daticert: unknown errore {errore!r}")
    timestamp: datetime | None
    try:
        timestamp = _timestamp(giorno, ora, zona)
    except ValueError:
        problems.append(f"daticert: bad date/time {giorno!r} {ora!r}")
        timestamp = None
    if zona is not None and not _ZONA.match(zona.strip()):
        problems.append(f"daticert: bad zona {zona!r}, UTC assumed")
    for required in ("mittente", "risposte", "gestore", "identificativo"):
        if required not in values:
            problems.append(f"daticert: <{required}> missing")
    return Daticert(
        tipo=tipo,
        errore=errore,
        mittente=values.get("mittente", ""),
        destinatari=tuple(values["destinatari"]),
        risposte=values.get("risposte", ""),
        oggetto=values.get("oggetto"),
        gestore=values.get("gestore", ""),
        timestamp=timestamp,
        identificativo=values.get("identificativo", ""),
        msgid=values.get("msgid"),
        ricevuta=values.get("ricevuta"),
        consegna=values.get("consegna"),
        ricezione=tuple(values["ricezione"]),
        errore_esteso=values.get("errore_esteso"),
        problems=tuple(problems),
    )
