"""Stage 4: the supplier invoices a message carries, registered and verified.

Each invoice file SdI delivered (with its `_MT_` metadata) is kept byte-for-byte and judged
by `rules.passive.register_invoice`: the strict verdict, the company, the supplier registry,
duplicates, totals, signatures (the envelope's verdict included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wpec_invoicing.rules.passive import register_invoice


@dataclass(frozen=True)
class Registered:
    """One invoice of the message: its record, its state, and whether it is new."""

    id: int
    status: str
    created: bool


def register_invoices(ctx: Any, session: Any, msg: Any, pec: Any,
                      envelope: dict[str, Any] | None) -> list[Registered]:
    sdi = pec.sdi
    files = dict(sdi.files or {})
    metadata = None
    if sdi.metadata_file and sdi.metadata_file in files:
        metadata = (sdi.metadata_file, files[sdi.metadata_file])
    found = []
    for name in sdi.invoice_files:
        data = files.get(name)
        if data is None:
            continue
        inv, created = register_invoice(
            session, ctx.config, ctx.archive, data, file_name=name, source="pec",
            message_id=msg.id, metadata=metadata, identificativo_sdi=sdi.identificativo_sdi,
            envelope_signature=envelope, trust=ctx.trust)
        found.append(Registered(inv.id, inv.status, created))
    return found
