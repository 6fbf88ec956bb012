"""Recognise mail from SdI and say what it carries (an invoice + its `_MT_`, or a notification).

Pure: the PEC layer hands over the certified sender and the files attached to the original
message; nothing here knows about MIME.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wpec_invoicing.sdi.messages import (
    NotificationError,
    SdiError,
    SdiNotification,
    decode_notification,
    parse_notification_name,
)

__all__ = [
    "SdiPayload",
    "is_invoice_file_name",
    "is_sdi_address",
    "is_sdi_file_name",
    "sdi_payload",
]

_SDI_ADDRESS = re.compile(r"^sdi\d{1,3}@pec\.fatturapa\.it$", re.I)
_INVOICE_NAME = re.compile(
    r"^(IT[a-zA-Z0-9]{11,16}|(?!IT)[A-Z]{2}[a-zA-Z0-9]{2,28})_[a-zA-Z0-9]{1,5}"
    r"\.(xml|zip|p7m)(\.p7m)?$",
    re.I,
)


def is_sdi_address(address: str | None) -> bool:
    """`sdiNN@pec.fatturapa.it`: the addresses SdI sends from (sdi01 receives first sends)."""
    return bool(address) and bool(_SDI_ADDRESS.match(address.strip()))  # type: ignore[union-attr]


def is_invoice_file_name(name: str) -> bool:
    """An invoice file name per the SdI rules (case of the extension tolerated)."""
    return bool(_INVOICE_NAME.match(name.strip()))


def is_sdi_file_name(name: str) -> bool:
    """A name SdI gives its files (invoice, `_MT_`, notification): the only files
    `sdi_payload` reads; the caller need not decode any other attachment."""
    return parse_notification_name(name) is not None or is_invoice_file_name(name)


@dataclass(frozen=True, slots=True)
class SdiPayload:
    """What an SdI mail carries.

    `kind` is `invoice` (with `invoice_files` and usually `metadata_file`) or the notification
    type (RC NS MC NE DT AT EC SE MT). `files` maps each SdI file name to its exact bytes (for
    an invoice: what the FatturaPA reader takes).

    `authentic` says whether the message provably comes from SdI: anyone can write
    `From: sdi03@pec.fatturapa.it` on plain mail, or sign an envelope with a self-made CA, so
    `kind`/`sdi_address` are only claims until this is True. It is decided by the PEC layer
    (`pec.inspect`), which alone sees the envelope; `sdi_payload` always leaves it False.
    `authentic_reason` says why (or what was verified). Act on an SdI payload (invoice
    state, learning the dedicated address, registering an invoice) only when `authentic`.
    """

    kind: str
    file_name: str | None
    identificativo_sdi: str | None
    errors: tuple[SdiError, ...] = ()
    invoice_files: tuple[str, ...] = ()
    metadata_file: str | None = None
    sdi_address: str | None = None
    notification: SdiNotification | None = None
    metadata: SdiNotification | None = None
    files: Mapping[str, bytes] = field(default_factory=dict, compare=False, repr=False)
    problems: tuple[str, ...] = ()
    authentic: bool = False
    authentic_reason: str | None = "not judged (no PEC envelope seen)"

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "authentic": self.authentic,
            "authentic_reason": self.authentic_reason,
            "file_name": self.file_name,
            "identificativo_sdi": self.identificativo_sdi,
            "errors": [{"code": e.code, "description": e.description} for e in self.errors],
            "invoice_files": list(self.invoice_files),
            "metadata_file": self.metadata_file,
            "sdi_address": self.sdi_address,
            "notification": self.notification.to_json() if self.notification else None,
            "problems": list(self.problems),
        }


def sdi_payload(sender: str | None, files: Sequence[tuple[str, bytes]]) -> SdiPayload | None:
    """The SdI payload of a message whose certified sender is `sender` and whose original
    carries `files` (name, bytes); None when it is not SdI mail.

    A message counts as SdI mail when the sender is an SdI address, or when its files are
    unmistakably SdI's (a decodable notification named `_TT_nnn.xml`, or an invoice + `_MT_`).
    """
    address = sender.strip().lower() if sender and is_sdi_address(sender) else None
    problems: list[str] = []
    notifications: list[SdiNotification] = []
    invoices: list[str] = []
    metadata: SdiNotification | None = None
    metadata_name: str | None = None
    for name, data in files:
        parsed = parse_notification_name(name)
        if parsed is not None:
            try:
                decoded = decode_notification(name, data)
            except NotificationError as exc:
                problems.append(str(exc))
                continue
            if decoded.kind == "MT":
                metadata, metadata_name = decoded, name
            else:
                notifications.append(decoded)
        elif is_invoice_file_name(name):
            invoices.append(name)
    if address is None and not notifications and not (invoices and metadata):
        return None
    by_name = {name: data for name, data in files}
    if invoices or (metadata is not None and not notifications):
        ident = metadata.identificativo_sdi if metadata else None
        if metadata is None:
            problems.append("invoice without its _MT_ metadata file")
        return SdiPayload(
            kind="invoice" if invoices else "MT",
            file_name=invoices[0] if invoices else metadata_name,
            identificativo_sdi=ident,
            invoice_files=tuple(invoices),
            metadata_file=metadata_name,
            sdi_address=address,
            metadata=metadata,
            notification=metadata if not invoices else None,
            files={n: by_name[n] for n in [*invoices, *([metadata_name] if metadata_name else [])]},
            problems=tuple(problems),
        )
    if notifications:
        first = notifications[0]
        if len(notifications) > 1:
            problems.append(f"{len(notifications)} notifications in one message; first used")
        return SdiPayload(
            kind=first.kind,
            file_name=first.file_name,
            identificativo_sdi=first.identificativo_sdi,
            errors=first.errors,
            sdi_address=address,
            notification=first,
            files={n.file_name: by_name[n.file_name] for n in notifications if n.file_name},
            problems=tuple(problems),
        )
    return None  # from an SdI address, but no SdI file in it: ordinary PEC
