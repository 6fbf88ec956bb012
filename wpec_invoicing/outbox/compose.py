"""Build the exact bytes of one outgoing PEC message (one recipient, own Message-ID).

WHY bytes are built once, at enqueue: the Message-ID is what every provider receipt refers to
(X-Riferimento-Message-ID), so it must be fixed and stored before the first SMTP attempt, and a
retry must send the very same message. The stored bytes are the single source of truth.
"""

from __future__ import annotations

import mimetypes
import uuid
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

# What the sender asks the provider for: `completa` (receipt with the full original), `breve`
# (attachments replaced by hashes: kinder to the mailbox quota) or `sintetica`.
RECEIPT_TYPES = ("completa", "breve", "sintetica")


def new_message_id(sender: str) -> str:
    """A globally unique Message-ID in the sender's domain, with angle brackets."""
    domain = sender.rsplit("@", 1)[-1] if "@" in sender else "wpec.invalid"
    return f"<{uuid.uuid4().hex}.wpec@{domain}>"


def build_message(
    *,
    sender: str,
    recipient: str,
    subject: str,
    body: str,
    attachments: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...] = (),
    message_id: str | None = None,
    receipt_type: str = "completa",
) -> tuple[str, bytes]:
    """Return (message_id, raw bytes). One recipient in To:, no Cc, no Bcc (PEC rules)."""
    if "," in recipient or ";" in recipient:
        raise ValueError(f"one recipient per message, got {recipient!r}")
    if receipt_type not in RECEIPT_TYPES:
        raise ValueError(f"receipt type must be one of {', '.join(RECEIPT_TYPES)}")
    message_id = message_id or new_message_id(sender)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = sender
    msg["To"] = recipient
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    msg["Message-ID"] = message_id
    msg["X-TipoRicevuta"] = receipt_type
    msg.set_content(body or "", charset="utf-8")
    for name, data in attachments:
        ctype, _ = mimetypes.guess_type(name)
        if name.lower().endswith(".p7m"):
            ctype = "application/pkcs7-mime"
        elif name.lower().endswith(".xml"):
            ctype = "application/xml"
        maintype, subtype = (ctype or "application/octet-stream").split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message_id, msg.as_bytes()


def replace_recipient(raw: bytes, recipient: str) -> bytes:
    """The same message with another To: (used before the first attempt of an SdI item, when
    the dedicated sdiNN address was learned after it was queued). Everything else is kept."""
    head, sep, rest = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, rest = raw.partition(b"\n\n")
    lines = head.split(b"\r\n" if b"\r\n" in head else b"\n")
    newline = b"\r\n" if b"\r\n" in head else b"\n"
    out: list[bytes] = []
    skipping = False
    for line in lines:
        if skipping and line[:1] in (b" ", b"\t"):
            continue
        skipping = False
        if line.lower().startswith(b"to:"):
            out.append(b"To: " + recipient.encode("ascii"))
            skipping = True
            continue
        out.append(line)
    return newline.join(out) + sep + rest
