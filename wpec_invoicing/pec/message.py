"""`inspect(raw) -> PecMessage`: everything the product needs to know about one message.

Order of evidence for the kind (spec digest): headers (X-Trasporto, X-Ricevuta), then
daticert `tipo`, then the Subject prefix. The Subject alone is trusted only when there is some
other PEC evidence (a signature, daticert, the provider's `posta-certificata@` sender): a
customer's mail titled "CONSEGNA: merce" is not a delivery receipt.

`inspect` never raises on bad input: unparsable bytes give kind `non-pec` with `problems`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from wpec_invoicing.pec.daticert import Daticert, DaticertError, parse_daticert
from wpec_invoicing.pec.envelope import MAX_PARTS, Unwrapped, unwrap
from wpec_invoicing.pec.kinds import (
    DATICERT_TIPI,
    Kind,
    kind_from_subject,
    strip_prefix,
)
from wpec_invoicing.pec.mime import Part, leaves, parse_entity
from wpec_invoicing.pec.names import safe_filename, unique_names
from wpec_invoicing.sdi.payload import (
    SdiPayload,
    is_sdi_address,
    is_sdi_file_name,
    sdi_payload,
)

if TYPE_CHECKING:
    from wpec_invoicing.cms import SignatureVerdict, TrustStore

__all__ = ["INTERNAL_ERROR", "Attachment", "Bounce", "PecMessage", "inspect", "list_attachments"]

# The problem prefix of a message `inspect` could not judge because of a bug in this code (an
# unexpected exception caught by the last line of defence), as opposed to bad input.
INTERNAL_ERROR = "unreadable: internal error: "


# A file whose encoded body is larger than this is hashed in chunks and its bytes decoded
# again on each `data` access, instead of being held decoded next to the message.
LAZY_DATA_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file of the original message: safe name, declared type, size, sha256, the bytes.

    `source` is the decoded bytes for a small file, or its MIME part for a big one: then
    `data` decodes it from the message on each access (nothing holds 50 MB twice just to
    report a size and a hash; a caller that reads `data` once pays one decode)."""

    name: str
    content_type: str
    size: int
    sha256: str
    source: bytes | Part = field(repr=False, compare=False)
    original_name: str | None = None
    truncated: bool = False  # its base64 was cut short: `data` is only what arrived

    @property
    def data(self) -> bytes:
        source = self.source
        return source if isinstance(source, bytes) else source.decoded()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "content_type": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "truncated": self.truncated,
        }

    @property
    def problem(self) -> str | None:
        """What is wrong with the file itself, as a message problem (None when nothing)."""
        if not self.truncated:
            return None
        return (f"attachment truncated: {self.name} (its base64 was cut short; "
                f"only {self.size} bytes arrived)")


@dataclass(frozen=True, slots=True)
class Bounce:
    """The delivery status notification (DSN) an anomaly envelope wraps: the real reason."""

    status: str | None
    diagnostic: str | None
    final_recipient: str | None
    action: str | None
    original_message_id: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "diagnostic": self.diagnostic,
            "final_recipient": self.final_recipient,
            "action": self.action,
            "original_message_id": self.original_message_id,
        }


@dataclass(frozen=True, slots=True)
class PecMessage:
    """One message of a PEC box, classified and unwrapped. Correlation keys:
    `ref_message_id` (the sender's Message-ID, `<...>`), `identificativo` (the provider's id,
    shared by all receipts of one message), `delivered_to` (per-recipient receipts)."""

    kind: Kind
    subject: str | None
    original_subject: str | None
    message_id: str | None
    ref_message_id: str | None
    identificativo: str | None
    sender: str | None
    recipients: tuple[str, ...]
    delivered_to: str | None
    error: str | None
    error_detail: str | None
    provider: str | None
    timestamp: datetime | None
    receipt_type: str | None
    signature: SignatureVerdict
    daticert: Daticert | None
    original: bytes | None = field(repr=False)
    attachments: tuple[Attachment, ...]
    sdi: SdiPayload | None
    bounce: Bounce | None = None
    signature_mode: str | None = None
    list_wrapped: bool = False
    problems: tuple[str, ...] = ()

    @property
    def readable(self) -> bool:
        """False when the bytes were not a message at all (nothing could be read)."""
        return not any(p.startswith("unreadable:") for p in self.problems)

    @property
    def internal_error(self) -> str | None:
        """The problem text when `inspect` crashed internally (a bug, not bad input)."""
        return next((p for p in self.problems if p.startswith(INTERNAL_ERROR)), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "subject": self.subject,
            "original_subject": self.original_subject,
            "message_id": self.message_id,
            "ref_message_id": self.ref_message_id,
            "identificativo": self.identificativo,
            "sender": self.sender,
            "recipients": list(self.recipients),
            "delivered_to": self.delivered_to,
            "error": self.error,
            "error_detail": self.error_detail,
            "provider": self.provider,
            "timestamp": self.timestamp.isoformat() if self.timestamp else None,
            "receipt_type": self.receipt_type,
            "signature": self.signature.to_json(),
            "signature_mode": self.signature_mode,
            "list_wrapped": self.list_wrapped,
            "daticert": self.daticert.to_json() if self.daticert else None,
            "attachments": [a.to_json() for a in self.attachments],
            "sdi": self.sdi.to_json() if self.sdi else None,
            "bounce": self.bounce.to_json() if self.bounce else None,
            "problems": list(self.problems),
        }


_RECEIPT_HEADER_VALUES = {k.value: k for k in Kind if k.is_receipt}
_LEADING_BLANKS = re.compile(rb"[\r\n \t]*")
_PER_CONTO = re.compile(r"per\s+conto\s+di\s*:\s*(\S+@\S+)", re.I)


def _msgid(value: str | None) -> str | None:
    """A Message-ID in its `<...>` form (as a client stores it), whatever the source wrote."""
    if not value:
        return None
    value = value.strip()
    match = re.search(r"<[^<>\s]+>", value)
    if match:
        return match.group(0)
    value = value.strip("<> \t")
    return f"<{value}>" if value else None


def _bare(msgid: str | None) -> str | None:
    return msgid.strip().strip("<>") if msgid else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else None


def list_attachments(raw: bytes | Part) -> tuple[Attachment, ...]:
    """The files of a message: every leaf part that is not its inline text/HTML body, and
    enclosed messages as `.eml` (not opened). Names made safe and unique."""
    found: list[tuple[str | None, str, Part]] = []
    top = raw if isinstance(raw, Part) else parse_entity(raw)
    for part, depth in leaves(top, max_depth=10, max_parts=MAX_PARTS):
        name = part.filename()
        ctype = part.content_type
        if name is None and part.disposition != "attachment" and (
            ctype in ("text/plain", "text/html") or (depth == 0 and ctype.startswith("text/"))
        ):
            continue  # the message's own text, not a file
        found.append((name, ctype, part))
    names: list[str] = []
    for index, (name, ctype, _part) in enumerate(found, start=1):
        default = f"attachment-{index}.eml" if ctype == "message/rfc822" else f"attachment-{index}"
        names.append(safe_filename(name, default))
    attachments: list[Attachment] = []
    for safe, (name, ctype, part) in zip(unique_names(names), found, strict=True):
        source: bytes | Part
        if part.body_size > LAZY_DATA_BYTES:
            size, sha256 = part.digest()
            source = part
        else:
            source = part.decoded()
            size, sha256 = len(source), hashlib.sha256(source).hexdigest()
        attachments.append(Attachment(name=safe, content_type=ctype, size=size, sha256=sha256,
                                      source=source, original_name=name,
                                      truncated=part.truncated))
    return tuple(attachments)


def _classify(
    headers_get: Any, daticert: Daticert | None, subject: str, pec_evidence: bool
) -> tuple[Kind, list[str]]:
    problems: list[str] = []
    trasporto = (headers_get("x-trasporto") or "").strip().lower()
    if trasporto == "posta-certificata":
        return Kind.POSTA_CERTIFICATA, problems
    if trasporto == "errore":
        return Kind.ANOMALIA, problems
    ricevuta = (headers_get("x-ricevuta") or "").strip().lower()
    if ricevuta in _RECEIPT_HEADER_VALUES:
        return _RECEIPT_HEADER_VALUES[ricevuta], problems
    if ricevuta or trasporto:
        problems.append(f"unknown PEC header value: {ricevuta or trasporto!r}")
    if daticert is not None and daticert.tipo in DATICERT_TIPI:
        return Kind(daticert.tipo), problems
    by_subject = kind_from_subject(subject)
    if by_subject is not None:
        if pec_evidence:
            problems.append("kind taken from the Subject only")
            return by_subject, problems
        problems.append("Subject looks like PEC but nothing else does: treated as non-pec")
    return Kind.NON_PEC, problems


def _bounce(original: bytes) -> Bounce | None:
    """The DSN fields of a bounce (multipart/report; report-type=delivery-status)."""
    status_part: Part | None = None
    returned: Part | None = None
    for part, _depth in leaves(parse_entity(original), max_depth=4):
        if part.content_type in ("message/delivery-status", "message/global-delivery-status"):
            status_part = status_part or part
        elif part.content_type in ("message/rfc822", "text/rfc822-headers"):
            returned = returned or part
    if status_part is None:
        return None
    text = status_part.decoded().decode("utf-8", "replace")
    fields: dict[str, str] = {}
    current: str | None = None
    for line in text.splitlines():
        if line[:1] in (" ", "\t") and current:
            fields[current] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name.strip():
            current = name.strip().lower()
            if current in ("status", "diagnostic-code", "final-recipient", "action") and (
                current not in fields
            ):
                fields[current] = value.strip()
            else:
                current = None if current not in fields else current
    original_id = None
    if returned is not None:
        inner = parse_entity(returned.decoded())
        original_id = _msgid(inner.headers.get("message-id"))
    diagnostic = fields.get("diagnostic-code")
    if diagnostic and ";" in diagnostic:
        diagnostic = diagnostic.split(";", 1)[1].strip()
    recipient = fields.get("final-recipient")
    if recipient and ";" in recipient:
        recipient = recipient.split(";", 1)[1].strip()
    return Bounce(
        status=fields.get("status"),
        diagnostic=diagnostic,
        final_recipient=recipient.lower() if recipient else None,
        action=fields.get("action"),
        original_message_id=original_id,
    )


def _bounce_error(status: str | None) -> str:
    if status and status.startswith("5.1.1"):
        return "no-dest"
    if status and status.startswith("5.1.2"):
        return "no-dominio"
    return "altro"


def _sdi_authenticity(
    kind: Kind,
    daticert: Daticert | None,
    verdict: SignatureVerdict,
    from_header: tuple[str, str] | None,
    trust_given: bool,
) -> tuple[bool, str]:
    """Whether an SdI-looking message provably comes from SdI, and why (not).

    Everything that makes it SdI's must be inside the provider's signature: the certified
    sender (daticert `mittente`, in the signed part) is an `sdiNN@pec.fatturapa.it` address,
    the signed daticert says `posta-certificata`, and the signature is intact (and trusted,
    when a trust store is given). Unsigned headers (From, X-Trasporto) are necessary but
    never sufficient."""
    if kind is not Kind.POSTA_CERTIFICATA:
        return False, f"not a PEC transport envelope (kind {kind.value})"
    if not verdict.present:
        return False, "the envelope carries no provider signature"
    if verdict.intact is not True:
        return False, f"the provider signature is not intact ({verdict.reason or 'unknown'})"
    if daticert is None or daticert.tipo != "posta-certificata":
        return False, "no signed daticert of tipo posta-certificata"
    if not is_sdi_address(daticert.mittente):
        return False, (f"the certified sender {daticert.mittente!r} is not an "
                       "sdiNN@pec.fatturapa.it address")
    if from_header is None or not from_header[1].startswith("posta-certificata@"):
        return False, "not sent by a PEC provider (From is not posta-certificata@...)"
    if trust_given and verdict.trusted is not True:
        return False, (f"the provider signature is not trusted "
                       f"({verdict.reason or 'signer not in the trust store'})")
    if not trust_given:
        return True, ("signed posta-certificata envelope from an SdI address, signature "
                      "intact; trust NOT checked (no trust store)")
    return True, ("signed posta-certificata envelope from an SdI address, signature intact "
                  "and trusted")


def inspect(raw: bytes, *, trust: TrustStore | None = None) -> PecMessage:
    """Classify, verify, unwrap one raw message. Never raises on bad input."""
    try:
        return _inspect(raw, trust)
    except Exception as exc:  # last line of defence: a verdict, never a crash of the batch
        # Marked as ours (a bug), not the input's: tests and fuzzers assert it is never hit.
        return _unreadable(f"{INTERNAL_ERROR}{type(exc).__name__}: {exc}")


def _unreadable(reason: str) -> PecMessage:
    from wpec_invoicing.cms import SignatureVerdict

    return PecMessage(
        kind=Kind.NON_PEC, subject=None, original_subject=None, message_id=None,
        ref_message_id=None, identificativo=None, sender=None, recipients=(),
        delivered_to=None, error=None, error_detail=None, provider=None, timestamp=None,
        receipt_type=None, signature=SignatureVerdict.absent(), daticert=None, original=None,
        attachments=(), sdi=None, problems=(reason,),
    )


_BASE64_DER = re.compile(rb"MI[I-L][A-Za-z0-9+/]{20,}\r?$", re.M)


def _looks_like(raw: bytes, start: int) -> str | None:
    """What a file that is no mail at all looks like (an invoice, a .p7m, a zip given to
    `pec inspect` by mistake), from its first bytes; None when it may be a message.

    The header parser skips garbage lines (a real message's stray line must not sink it), so
    without this an XML invoice reads as a header-only `non-pec` message (`<p:Fattura...`
    has a colon) and the user is told nothing."""
    head = raw[start : start + 256]
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if len(head) > 1 and head[0] == 0x30 and 0x80 <= head[1] <= 0x84:
        return "p7m"  # DER/BER SEQUENCE: CMS (or other ASN.1), never the start of a mail
    if _BASE64_DER.match(head):
        return "p7m (base64)"
    text = head.lstrip()
    if text.startswith(b"<"):
        lowered = text[:15].lower()
        return "html" if lowered.startswith((b"<html", b"<!doctype html")) else "xml"
    if b"\x00" in head:
        return "binary data"
    return None


def _inspect(raw: bytes, trust: TrustStore | None) -> PecMessage:
    if not isinstance(raw, bytes | bytearray | memoryview):
        return _unreadable("unreadable: not bytes")
    raw = bytes(raw)  # the same object when it is bytes already
    # blank lines before the header (saved files) are skipped by offset, not by copying
    start = _LEADING_BLANKS.match(raw).end()  # type: ignore[union-attr]
    looks = _looks_like(raw, start)
    if looks is not None:
        return _unreadable(f"unreadable: not an RFC 5322 message: looks like {looks}")
    top = parse_entity(raw, start)
    headers = top.headers
    if not headers.names():
        return _unreadable("unreadable: no header fields (not an RFC 5322 message)")
    unwrapped: Unwrapped = unwrap(top, trust=trust)
    problems = list(unwrapped.problems)

    daticert: Daticert | None = None
    if unwrapped.daticert is not None:
        try:
            daticert = parse_daticert(unwrapped.daticert.decoded())
            problems.extend(daticert.problems)
        except DaticertError as exc:
            problems.append(str(exc))

    subject = headers.text("subject")
    from_header = headers.address("from")
    pec_evidence = (
        unwrapped.verdict.present
        or daticert is not None
        or (from_header is not None and from_header[1].startswith("posta-certificata@"))
    )
    kind, class_problems = _classify(headers.get, daticert, subject or "", pec_evidence)
    problems.extend(class_problems)
    if (
        daticert is not None
        and daticert.tipo
        and kind.value != daticert.tipo
        and kind is not Kind.ANOMALIA
    ):
        problems.append(f"headers say {kind.value}, daticert says {daticert.tipo}")
    security_failed = (headers.get("x-verificasicurezza") or "").strip().lower() == "errore"
    if security_failed:
        problems.append("X-VerificaSicurezza: errore (the provider could not verify the message)")

    original: bytes | None = None
    if kind is not Kind.NON_PEC and unwrapped.postacert is not None:
        original = unwrapped.postacert.decoded()

    # sender / recipients
    sender: str | None = None
    if daticert is not None and daticert.mittente:
        sender = daticert.mittente.lower()
    elif kind in (Kind.POSTA_CERTIFICATA, Kind.ANOMALIA):
        reply_to = headers.addresses("reply-to")
        display = from_header[0] if from_header else ""
        per_conto = _PER_CONTO.search(display or "")
        if per_conto:
            sender = per_conto.group(1).strip("<>\"'").lower()
        elif reply_to:
            sender = reply_to[0]
    if sender is None and from_header is not None and from_header[1]:
        sender = from_header[1]
    if daticert is not None and daticert.destinatari:
        recipients = tuple(d.address.lower() for d in daticert.destinatari)
    else:
        recipients = tuple(headers.addresses("to", "cc"))

    ref_header = _msgid(headers.get("x-riferimento-message-id"))
    ref_message_id = _msgid(daticert.msgid) if daticert is not None and daticert.msgid else None
    if ref_message_id is None:
        ref_message_id = ref_header
    message_id = _msgid(headers.get("message-id"))
    identificativo = daticert.identificativo if daticert and daticert.identificativo else None
    if identificativo is None and kind in (Kind.POSTA_CERTIFICATA, Kind.ANOMALIA):
        identificativo = _bare(message_id)

    original_subject: str | None = None
    if subject is not None:
        original_subject = strip_prefix(subject) if kind is not Kind.NON_PEC else subject
        if original_subject == subject and kind is not Kind.NON_PEC and daticert is not None:
            original_subject = daticert.oggetto or original_subject

    error = daticert.errore if daticert is not None else None
    error_detail = daticert.errore_esteso if daticert is not None else None
    bounce: Bounce | None = None
    if kind is Kind.ANOMALIA and original is not None:
        bounce = _bounce(original)
        if bounce is not None:
            error = _bounce_error(bounce.status)
            error_detail = " - ".join(p for p in (bounce.status, bounce.diagnostic) if p) or None

    if security_failed and error in (None, "nessuno"):  # the spec: treat as an error outcome
        error = "altro"
        error_detail = error_detail or "X-VerificaSicurezza: errore"

    timestamp = daticert.timestamp if daticert is not None else None
    if timestamp is None:
        timestamp = _date(headers.get("date"))
    receipt_type = daticert.ricevuta if daticert is not None and daticert.ricevuta else None
    if receipt_type is None and kind is Kind.AVVENUTA_CONSEGNA:
        receipt_type = (headers.get("x-tiporicevuta") or "").strip().lower() or None

    if original is not None:
        attachments = list_attachments(original)
    elif kind is Kind.NON_PEC:
        attachments = list_attachments(top)
    else:
        attachments = ()

    problems.extend(a.problem for a in attachments if a.truncated)

    sdi: SdiPayload | None = None
    if attachments and kind in (Kind.POSTA_CERTIFICATA, Kind.NON_PEC):
        # only the files SdI could have sent are read (a big PDF is never decoded here)
        files = [(a.name, a.data) for a in attachments if is_sdi_file_name(a.name)]
        sdi = sdi_payload(sender, files)
        if sdi is not None:
            problems.extend(sdi.problems)
            authentic, why = _sdi_authenticity(
                kind, daticert, unwrapped.verdict, from_header, trust is not None
            )
            sdi = replace(sdi, authentic=authentic, authentic_reason=why)
            if not authentic:
                problems.append(f"SdI-looking message NOT authentic: {why}")

    return PecMessage(
        kind=kind,
        subject=subject,
        original_subject=original_subject,
        message_id=message_id,
        ref_message_id=ref_message_id,
        identificativo=identificativo,
        sender=sender,
        recipients=recipients,
        delivered_to=daticert.consegna.lower() if daticert and daticert.consegna else None,
        error=error,
        error_detail=error_detail,
        provider=daticert.gestore if daticert is not None and daticert.gestore else None,
        timestamp=timestamp,
        receipt_type=receipt_type,
        signature=unwrapped.verdict,
        daticert=daticert,
        original=original,
        attachments=attachments,
        sdi=sdi,
        bounce=bounce,
        signature_mode=unwrapped.mode,
        list_wrapped=unwrapped.list_wrapped,
        problems=tuple(problems),
    )
