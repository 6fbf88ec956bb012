"""Build PEC messages exactly as a provider does: transport and anomaly envelopes, every
receipt and notice, signed S/MIME (detached, or opaque on request), with daticert.xml and
postacert.eml. Used by the sandbox (the local provider and SdI) and by the tests.

Shapes follow the spec digest (docs: shared/spec/PEC.md):

    multipart/signed; protocol="application/x-pkcs7-signature"; micalg=sha1|sha-256
    ├─ multipart/mixed
    │   ├─ multipart/alternative (text/plain + text/html)   — or text/plain alone
    │   ├─ application/xml; name="daticert.xml"
    │   └─ message/rfc822; name="postacert.eml"             — envelopes, completa/breve receipts
    └─ application/x-pkcs7-signature; name="smime.p7s"

Everything is written with CRLF line breaks; the signature covers the multipart/mixed entity
byte for byte, as the reader checks it.

Quick use:

    signer = Signer(key, cert, digest="sha256")
    provider = Provider(domain="pec.sandbox.test", gestore="Sandbox PEC", signer=signer)
    envelope = transport_envelope(original_bytes, provider=provider, identificativo=ident)
    ok = accettazione(original_bytes, provider=provider, identificativo=ident)
    done = avvenuta_consegna(original_bytes, provider=provider, identificativo=ident,
                             consegna="rcpt@pec.example.it", receipt_type="breve")
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime, getaddresses, parseaddr
from html import escape as html_escape
from typing import Any

from wpec_invoicing.pec.daticert import Daticert, Destinatario
from wpec_invoicing.pec.kinds import SUBJECT_PREFIX, Kind
from wpec_invoicing.pec.mime import (
    Part,
    canonical_crlf,
    decode_words,
    parse_entity,
)

__all__ = [
    "OriginalInfo",
    "Provider",
    "Signer",
    "accettazione",
    "anomaly_envelope",
    "avvenuta_consegna",
    "compose",
    "encode_header",
    "errore_consegna",
    "list_wrap",
    "new_identificativo",
    "non_accettazione",
    "preavviso_errore_consegna",
    "presa_in_carico",
    "receipt",
    "rilevazione_virus",
    "sign_entity",
    "transport_envelope",
]

CRLF = "\r\n"


@dataclass(frozen=True)
class Signer:
    """Who signs: a private key, its certificate, the digest (`sha256` or `sha1`) and any
    intermediate certificates to carry in the signature."""

    key: Any
    cert: Any
    digest: str = "sha256"
    extra_certs: tuple[Any, ...] = ()

    @property
    def micalg(self) -> str:
        return {"sha1": "sha1", "sha256": "sha-256"}.get(
            self.digest.lower().replace("-", ""), self.digest.lower()
        )

    def sign(self, content: bytes, *, signing_time: datetime | None = None,
             attached: bool = False) -> bytes:
        """DER CMS SignedData over `content` (detached unless `attached`)."""
        from wpec_invoicing.cms import sign_attached, sign_detached

        fn = sign_attached if attached else sign_detached
        return fn(content, self.key, self.cert, digest=self.digest,
                  extra_certs=self.extra_certs, signing_time=signing_time)


@dataclass(frozen=True)
class Provider:
    """A PEC provider: its mail domain (receipts come from `posta-certificata@<domain>`),
    its name as written in daticert `gestore-emittente`, and its signer."""

    domain: str
    gestore: str
    signer: Signer
    # Decides whether a recipient address is a PEC box (`certificato`) or not (`esterno`).
    is_certified: Callable[[str], bool] = field(default=lambda _address: True)

    @property
    def address(self) -> str:
        return f"posta-certificata@{self.domain}"


@dataclass(frozen=True)
class OriginalInfo:
    """What a provider reads from the original message's headers."""

    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    message_id: str | None

    @classmethod
    def of(cls, original: bytes) -> OriginalInfo:
        headers = parse_entity(original).headers
        _display, sender = parseaddr(headers.get("from") or "")
        def addrs(name: str) -> tuple[str, ...]:
            return tuple(a.lower() for _d, a in getaddresses(headers.get_all(name)) if a)
        return cls(
            sender=sender.lower(),
            to=addrs("to"),
            cc=addrs("cc"),
            subject=decode_words(headers.get("subject") or ""),
            message_id=(headers.get("message-id") or "").strip() or None,
        )


def new_identificativo(domain: str, when: datetime | None = None) -> str:
    """A provider-style unique id (`opec-YYYYmmddHHMMSS.<random>@<domain>`)."""
    when = when or datetime.now(UTC)
    return f"opec.{when:%Y%m%d%H%M%S}.{secrets.token_hex(6)}@{domain}"


# ---------------------------------------------------------------------------------- MIME bits

def encode_header(value: str) -> str:
    """A header value as it goes on the wire: as is when plain ASCII and short, else RFC 2047
    base64 encoded words (folded between words; decoding drops that whitespace)."""
    if value.isascii() and value.isprintable() and len(value) < 900:
        return value
    words: list[str] = []
    chunk = ""
    for char in value:
        if len((chunk + char).encode("utf-8")) > 45:
            words.append(chunk)
            chunk = ""
        chunk += char
    if chunk or not words:
        words.append(chunk)
    encoded = [
        "=?utf-8?b?" + base64.b64encode(w.encode("utf-8")).decode("ascii") + "?=" for w in words
    ]
    return (CRLF + " ").join(encoded)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _b64(data: bytes) -> bytes:
    text = base64.b64encode(data)
    return b"\r\n".join(text[i : i + 76] for i in range(0, len(text), 76)) + b"\r\n"


def _boundary() -> str:
    return f"----=_Part_{secrets.token_hex(12)}"


def _entity(headers: Sequence[tuple[str, str]], body: bytes) -> bytes:
    head = "".join(f"{name}: {value}{CRLF}" for name, value in headers)
    return head.encode("utf-8") + b"\r\n" + body


def _multipart(subtype: str, parts: Sequence[bytes], preamble: str = "") -> bytes:
    boundary = _boundary()
    body = preamble.encode("ascii") + (b"\r\n" if preamble else b"")
    for part in parts:
        body += f"--{boundary}\r\n".encode("ascii") + part + b"\r\n"
    body += f"--{boundary}--\r\n".encode("ascii")
    return _entity([("Content-Type", f'multipart/{subtype}; boundary="{boundary}"')], body)


def _text_part(text: str, subtype: str = "plain") -> bytes:
    return _entity(
        [
            ("Content-Type", f"text/{subtype}; charset=UTF-8"),
            ("Content-Transfer-Encoding", "base64"),
        ],
        _b64(canonical_crlf(text.encode("utf-8"))),
    )


def _file_part(name: str, content_type: str, data: bytes, disposition: str = "inline") -> bytes:
    quoted = _quote(encode_header(name))
    return _entity(
        [
            ("Content-Type", f"{content_type}; name={quoted}"),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", f"{disposition}; filename={quoted}"),
        ],
        _b64(data),
    )


def _message_part(original: bytes, name: str = "postacert.eml") -> bytes:
    data = canonical_crlf(original)
    encoding = "7bit" if data.isascii() else "8bit"
    return _entity(
        [
            ("Content-Type", f'message/rfc822; name="{name}"'),
            ("Content-Transfer-Encoding", encoding),
            ("Content-Disposition", f'inline; filename="{name}"'),
        ],
        data,
    )


def sign_entity(
    headers: Sequence[tuple[str, str]],
    entity: bytes,
    signer: Signer,
    *,
    signing_time: datetime | None = None,
    opaque: bool = False,
) -> bytes:
    """Top headers + the S/MIME-signed `entity` (detached multipart/signed, or opaque)."""
    if opaque:
        der = signer.sign(entity, signing_time=signing_time, attached=True)
        top = [
            *headers,
            ("MIME-Version", "1.0"),
            ("Content-Type", 'application/pkcs7-mime; smime-type=signed-data; name="smime.p7m"'),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", 'attachment; filename="smime.p7m"'),
        ]
        return _entity(top, _b64(der))
    der = signer.sign(entity, signing_time=signing_time)
    boundary = _boundary()
    signature = _entity(
        [
            ("Content-Type", 'application/x-pkcs7-signature; name="smime.p7s"'),
            ("Content-Transfer-Encoding", "base64"),
            ("Content-Disposition", 'attachment; filename="smime.p7s"'),
        ],
        _b64(der),
    )
    body = (
        b"This is an S/MIME signed message\r\n"
        + f"--{boundary}\r\n".encode("ascii") + entity + b"\r\n"
        + f"--{boundary}\r\n".encode("ascii") + signature + b"\r\n"
        + f"--{boundary}--\r\n".encode("ascii")
    )
    top = [
        *headers,
        ("MIME-Version", "1.0"),
        (
            "Content-Type",
            f'multipart/signed; protocol="application/x-pkcs7-signature"; '
            f'micalg={signer.micalg}; boundary="{boundary}"',
        ),
    ]
    return _entity(top, body)


def list_wrap(raw: bytes, footer: str = "-- \r\nMessaggio inoltrato dalla lista") -> bytes:
    """What a mailing-list relay does: the message's body (signed part untouched) wrapped in
    one more multipart/mixed with a footer part; the other headers stay."""
    top = parse_entity(raw)
    keep = [
        (name, value)
        for name in top.headers.names()
        if name not in ("content-type", "content-transfer-encoding", "mime-version")
        for value in top.headers.get_all(name)
    ]
    inner_headers = [("Content-Type", top.headers.get("content-type") or "text/plain")]
    if top.headers.get("content-transfer-encoding"):
        inner_headers.append(
            ("Content-Transfer-Encoding", top.headers.get("content-transfer-encoding") or "")
        )
    inner = _entity(inner_headers, top.body)
    wrapped = _multipart("mixed", [inner, _text_part(footer)])
    wrapped_part = parse_entity(wrapped)
    return _entity(
        [*keep, ("MIME-Version", "1.0"), ("Content-Type", wrapped_part.headers.get("content-type")
                                           or "")],
        wrapped_part.body,
    )


def compose(
    *,
    sender: str,
    to: Sequence[str],
    subject: str,
    text: str = "",
    attachments: Sequence[tuple[str, bytes, str]] = (),
    cc: Sequence[str] = (),
    message_id: str | None = None,
    date: datetime | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """An ordinary message (what a client or SdI hands to its provider): text plus files
    `(name, bytes, content_type)`."""
    domain = sender.rpartition("@")[2] or "localhost"
    headers = [
        ("Date", format_datetime(date or datetime.now(UTC))),
        ("From", sender),
        ("To", ", ".join(to)),
    ]
    if cc:
        headers.append(("Cc", ", ".join(cc)))
    headers += [
        ("Subject", encode_header(subject)),
        ("Message-ID", message_id or f"<{uuid.uuid4().hex}@{domain}>"),
        *extra_headers,
        ("MIME-Version", "1.0"),
    ]
    if not attachments:
        body = _text_part(text)
        part = parse_entity(body)
        return _entity(
            [*headers, *[(n.title(), v) for n in part.headers.names()
                         for v in part.headers.get_all(n)]],
            part.body,
        )
    files = [_file_part(name, ctype, data, "attachment") for name, data, ctype in attachments]
    mixed = parse_entity(_multipart("mixed", [_text_part(text), *files]))
    return _entity([*headers, ("Content-Type", mixed.headers.get("content-type") or "")],
                   mixed.body)


# ---------------------------------------------------------------------------------- texts

_TEXTS: dict[Kind, str] = {
    Kind.POSTA_CERTIFICATA: (
        "Messaggio di posta certificata\n\nIl giorno {giorno} alle ore {ora} ({zona}) il "
        'messaggio\n"{oggetto}" è stato inviato da "{mittente}"\nindirizzato a:\n{destinatari}'
        "\nIl messaggio originale è incluso in allegato.\nIdentificativo messaggio: {ident}\n"
    ),
    Kind.ANOMALIA: (
        "Anomalia nel messaggio\n\nIl giorno {giorno} alle ore {ora} ({zona}) è stato "
        'ricevuto\nil messaggio "{oggetto}" proveniente da "{mittente}"\nindirizzato a:\n'
        "{destinatari}\nQuesti dati non sono stati certificati per il seguente errore:\n"
        "{motivo}\nIl messaggio originale è incluso in allegato.\n"
    ),
    Kind.ACCETTAZIONE: (
        "Ricevuta di accettazione\n\nIl giorno {giorno} alle ore {ora} ({zona}) il messaggio\n"
        '"{oggetto}" proveniente da "{mittente}"\ned indirizzato a:\n{destinatari}\n'
        "è stato accettato dal sistema ed inoltrato.\nIdentificativo messaggio: {ident}\n"
    ),
    Kind.NON_ACCETTAZIONE: (
        "Avviso di non accettazione\n\nIl giorno {giorno} alle ore {ora} ({zona}) nel "
        'messaggio\n"{oggetto}" proveniente da "{mittente}"\ned indirizzato a:\n{destinatari}\n'
        "è stato rilevato un problema che ne impedisce l'accettazione\na causa di: {motivo}\n"
        "Il messaggio non è stato accettato.\nIdentificativo messaggio: {ident}\n"
    ),
    Kind.PRESA_IN_CARICO: (
        "Ricevuta di presa in carico\n\nIl giorno {giorno} alle ore {ora} ({zona}) il "
        'messaggio\n"{oggetto}" proveniente da "{mittente}"\ned indirizzato a:\n{destinatari}\n'
        "è stato accettato dal sistema.\nIdentificativo messaggio: {ident}\n"
    ),
    Kind.AVVENUTA_CONSEGNA: (
        "Ricevuta di avvenuta consegna\n\nIl giorno {giorno} alle ore {ora} ({zona}) il "
        'messaggio\n"{oggetto}" proveniente da "{mittente}"\ned indirizzato a "{consegna}"\n'
        "è stato depositato nella casella di destinazione.\nIdentificativo messaggio: {ident}\n"
    ),
    Kind.ERRORE_CONSEGNA: (
        "Avviso di mancata consegna\n\nIl giorno {giorno} alle ore {ora} ({zona}) nel "
        'messaggio\n"{oggetto}" proveniente da "{mittente}"\ned indirizzato a "{consegna}"\n'
        "si è verificato un errore di consegna: {motivo}\n"
        "Il messaggio non è stato consegnato.\nIdentificativo messaggio: {ident}\n"
    ),
    Kind.PREAVVISO_ERRORE_CONSEGNA: (
        "Avviso di mancata consegna per superamento dei tempi massimi\n\nIl giorno {giorno} "
        'alle ore {ora} ({zona}) il messaggio\n"{oggetto}" proveniente da "{mittente}"\n'
        'ed indirizzato a "{consegna}"\nnon è stato consegnato nelle prime 12 ore.\n'
        "Identificativo messaggio: {ident}\n"
    ),
    Kind.RILEVAZIONE_VIRUS: (
        "Avviso di rilevazione virus\n\nIl giorno {giorno} alle ore {ora} ({zona}) nel "
        'messaggio\n"{oggetto}" proveniente da "{mittente}"\n'
        "è stato rilevato un virus: {motivo}\nIdentificativo messaggio: {ident}\n"
    ),
}


def _texts(kind: Kind, d: Daticert, motivo: str | None) -> tuple[str, str]:
    assert d.timestamp is not None  # the builder always dates what it certifies
    values = {
        "giorno": f"{d.timestamp:%d/%m/%Y}",
        "ora": f"{d.timestamp:%H:%M:%S}",
        "zona": d.timestamp.strftime("%z"),
        "oggetto": d.oggetto or "",
        "mittente": d.mittente,
        "destinatari": "".join(
            f'"{x.address}" ("{"posta certificata" if x.tipo == "certificato" else "posta ordinaria"}")\n'  # noqa: E501
            for x in d.destinatari
        ),
        "ident": d.identificativo,
        "consegna": d.consegna or "",
        "motivo": motivo or d.errore_esteso or d.errore,
    }
    text = _TEXTS[kind].format(**values)
    html = (
        "<html><head><meta charset=\"UTF-8\"></head><body>"
        + "".join(f"<p>{html_escape(line)}</p>" for line in text.split("\n") if line)
        + "</body></html>\n"
    )
    return text, html


def _body_parts(kind: Kind, d: Daticert, alternative: bool, motivo: str | None) -> bytes:
    text, html = _texts(kind, d, motivo)
    if alternative:
        return _multipart("alternative", [_text_part(text), _text_part(html, "html")])
    return _text_part(text)


def _signed_mixed(
    kind: Kind,
    d: Daticert | None,
    *,
    alternative: bool,
    postacert: bytes | None,
    motivo: str | None,
    text_daticert: Daticert,
) -> bytes:
    parts = [_body_parts(kind, text_daticert, alternative, motivo)]
    if d is not None:
        parts.append(_file_part("daticert.xml", "application/xml", d.to_xml()))
    if postacert is not None:
        parts.append(_message_part(postacert))
    return _multipart("mixed", parts, preamble="This is a multi-part message in MIME format.")


def _now(timestamp: datetime | None) -> datetime:
    when = timestamp or datetime.now(UTC).astimezone()
    if when.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return when.replace(microsecond=0)


def _destinatari(
    info: OriginalInfo, provider: Provider, destinatari: Sequence[Destinatario] | None
) -> tuple[Destinatario, ...]:
    if destinatari is not None:
        return tuple(destinatari)
    return tuple(
        Destinatario(a, "certificato" if provider.is_certified(a) else "esterno")
        for a in (*info.to, *info.cc)
    )


def _common_headers(when: datetime) -> list[tuple[str, str]]:
    return [("Date", format_datetime(when))]


def transport_envelope(
    original: bytes,
    *,
    provider: Provider,
    identificativo: str | None = None,
    timestamp: datetime | None = None,
    destinatari: Sequence[Destinatario] | None = None,
    alternative: bool = True,
    opaque: bool = False,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """The certified message as the recipient's box receives it (X-Trasporto:
    posta-certificata), wrapping `original` as postacert.eml, Message-ID = identificativo."""
    info = OriginalInfo.of(original)
    when = _now(timestamp)
    ident = identificativo or new_identificativo(provider.domain, when)
    d = Daticert(
        tipo="posta-certificata", mittente=info.sender,
        destinatari=_destinatari(info, provider, destinatari), risposte=info.sender,
        oggetto=info.subject, gestore=provider.gestore, timestamp=when, identificativo=ident,
        msgid=info.message_id,
    )
    entity = _signed_mixed(Kind.POSTA_CERTIFICATA, d, alternative=alternative,
                           postacert=original, motivo=None, text_daticert=d)
    headers = [
        *_common_headers(when),
        ("From", f'{_quote("Per conto di: " + info.sender)} <{provider.address}>'),
        ("Reply-To", info.sender),
        ("To", ", ".join(info.to) or info.sender),
    ]
    if info.cc:
        headers.append(("Cc", ", ".join(info.cc)))
    headers += [
        ("Subject", encode_header(SUBJECT_PREFIX[Kind.POSTA_CERTIFICATA] + info.subject)),
        ("Message-ID", f"<{ident}>"),
    ]
    if info.message_id:
        headers.append(("X-Riferimento-Message-ID", info.message_id))
    headers += [("X-Trasporto", "posta-certificata"), *extra_headers]
    return sign_entity(headers, entity, provider.signer, signing_time=when, opaque=opaque)


def anomaly_envelope(
    original: bytes,
    *,
    provider: Provider,
    recipient: str | None = None,
    identificativo: str | None = None,
    timestamp: datetime | None = None,
    reason: str = "il messaggio non è un messaggio di posta certificata",
    with_daticert: bool = False,
    alternative: bool = True,
    opaque: bool = False,
) -> bytes:
    """Non-PEC (or unverifiable) mail entering a PEC box (X-Trasporto: errore). Most providers
    add no daticert: `with_daticert=True` adds one (tipo posta-certificata, errore altro)."""
    info = OriginalInfo.of(original)
    when = _now(timestamp)
    ident = identificativo or new_identificativo(provider.domain, when)
    rcpts = (recipient,) if recipient else (*info.to, *info.cc)
    d = Daticert(
        tipo="posta-certificata", errore="altro", mittente=info.sender,
        destinatari=tuple(Destinatario(a, "certificato") for a in rcpts),
        risposte=info.sender, oggetto=info.subject, gestore=provider.gestore, timestamp=when,
        identificativo=ident, msgid=info.message_id, errore_esteso=reason,
    )
    entity = _signed_mixed(Kind.ANOMALIA, d if with_daticert else None,
                           alternative=alternative, postacert=original, motivo=reason,
                           text_daticert=d)
    headers = [
        *_common_headers(when),
        ("From", f'{_quote("Per conto di: " + info.sender)} <{provider.address}>'),
        ("Reply-To", info.sender),
        ("To", ", ".join(rcpts) or info.sender),
        ("Subject", encode_header(SUBJECT_PREFIX[Kind.ANOMALIA] + info.subject)),
        ("Message-ID", f"<{ident}>"),
    ]
    if info.message_id:
        headers.append(("X-Riferimento-Message-ID", info.message_id))
    headers.append(("X-Trasporto", "errore"))
    return sign_entity(headers, entity, provider.signer, signing_time=when, opaque=opaque)


def _breve(original: bytes) -> bytes:
    """The original with each attached file replaced by its hash (a `breve` receipt)."""
    top = parse_entity(original)

    def rebuild(part: Part, depth: int) -> bytes:
        if part.is_multipart and depth < 8:
            children = part.children()
            boundary = part.params.get("boundary", "")
            head = part.raw[: part.body_start]
            body = b""
            for child in children:
                body += f"--{boundary}\r\n".encode() + rebuild(child, depth + 1) + b"\r\n"
            body += f"--{boundary}--\r\n".encode()
            return head + body
        name = part.filename()
        if name is None or depth == 0:
            return part.raw
        digest = hashlib.sha256(part.decoded()).hexdigest()
        return _entity(
            [
                ("Content-Type", f"text/plain; charset=US-ASCII; name={_quote(name + '.hash')}"),
                ("Content-Disposition", f"attachment; filename={_quote(name + '.hash')}"),
            ],
            f"SHA256 ({name}) = {digest}\r\n".encode(),
        )

    return rebuild(top, 0)


def receipt(
    kind: Kind | str,
    original: bytes,
    *,
    provider: Provider,
    identificativo: str,
    timestamp: datetime | None = None,
    receipt_type: str = "completa",
    consegna: str | None = None,
    errore: str = "nessuno",
    errore_esteso: str | None = None,
    destinatari: Sequence[Destinatario] | None = None,
    message_id: str | None = None,
    alternative: bool = True,
    opaque: bool = False,
    with_daticert: bool = True,
) -> bytes:
    """Any receipt or notice, addressed to the original sender.

    postacert.eml is included only where the rules want it: avvenuta-consegna `completa`
    (the original) and `breve` (the original with attachments replaced by their hashes).
    """
    kind = Kind(kind)
    if not kind.is_receipt:
        raise ValueError(f"{kind.value} is not a receipt kind")
    if receipt_type not in ("completa", "breve", "sintetica"):
        raise ValueError(f"receipt_type must be completa, breve or sintetica: {receipt_type!r}")
    info = OriginalInfo.of(original)
    when = _now(timestamp)
    per_recipient = kind in (
        Kind.AVVENUTA_CONSEGNA, Kind.ERRORE_CONSEGNA, Kind.PREAVVISO_ERRORE_CONSEGNA,
    )
    if per_recipient and not consegna:
        raise ValueError(f"{kind.value} is per recipient: give consegna=<address>")
    d = Daticert(
        tipo=kind.value, errore=errore, mittente=info.sender,
        destinatari=_destinatari(info, provider, destinatari), risposte=info.sender,
        oggetto=info.subject, gestore=provider.gestore, timestamp=when,
        identificativo=identificativo, msgid=info.message_id,
        ricevuta=receipt_type if kind is Kind.AVVENUTA_CONSEGNA else None,
        consegna=consegna if per_recipient else None, errore_esteso=errore_esteso,
    )
    postacert: bytes | None = None
    if kind is Kind.AVVENUTA_CONSEGNA and receipt_type == "completa":
        postacert = original
    elif kind is Kind.AVVENUTA_CONSEGNA and receipt_type == "breve":
        postacert = _breve(original)
    entity = _signed_mixed(kind, d if with_daticert else None, alternative=alternative,
                           postacert=postacert, motivo=errore_esteso, text_daticert=d)
    headers = [
        *_common_headers(when),
        ("From", provider.address),
        ("To", info.sender),
        ("Subject", encode_header(SUBJECT_PREFIX[kind] + info.subject)),
        ("Message-ID", message_id or f"<{uuid.uuid4().hex}@{provider.domain}>"),
    ]
    if info.message_id:
        headers.append(("X-Riferimento-Message-ID", info.message_id))
    headers.append(("X-Ricevuta", kind.value))
    if kind is Kind.AVVENUTA_CONSEGNA:
        headers.append(("X-TipoRicevuta", receipt_type))
    return sign_entity(headers, entity, provider.signer, signing_time=when, opaque=opaque)


def accettazione(original: bytes, **kwargs: Any) -> bytes:
    """Acceptance receipt (your provider took the message in)."""
    return receipt(Kind.ACCETTAZIONE, original, **kwargs)


def non_accettazione(original: bytes, **kwargs: Any) -> bytes:
    """Non-acceptance notice; give `errore_esteso` (why: Bcc, size, virus, From ≠ login)."""
    kwargs.setdefault("errore", "altro")
    return receipt(Kind.NON_ACCETTAZIONE, original, **kwargs)


def presa_in_carico(original: bytes, **kwargs: Any) -> bytes:
    """Taking-in-charge receipt (between providers)."""
    return receipt(Kind.PRESA_IN_CARICO, original, **kwargs)


def avvenuta_consegna(original: bytes, **kwargs: Any) -> bytes:
    """Delivery receipt for one recipient (`consegna`), completa / breve / sintetica."""
    return receipt(Kind.AVVENUTA_CONSEGNA, original, **kwargs)


def errore_consegna(original: bytes, **kwargs: Any) -> bytes:
    """Delivery failure for one recipient; `errore` no-dest / no-dominio / virus / altro and
    `errore_esteso` like `5.1.1 - Gestore - indirizzo non valido`."""
    kwargs.setdefault("errore", "no-dest")
    return receipt(Kind.ERRORE_CONSEGNA, original, **kwargs)


def preavviso_errore_consegna(original: bytes, **kwargs: Any) -> bytes:
    """Warning: not delivered within 12 hours (for one recipient, `consegna`)."""
    kwargs.setdefault("errore", "altro")
    return receipt(Kind.PREAVVISO_ERRORE_CONSEGNA, original, **kwargs)


def rilevazione_virus(original: bytes, **kwargs: Any) -> bytes:
    """Virus detection notice."""
    kwargs.setdefault("errore", "virus")
    return receipt(Kind.RILEVAZIONE_VIRUS, original, **kwargs)
