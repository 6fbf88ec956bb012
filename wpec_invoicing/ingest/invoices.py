"""Stage 4: supplier invoices registered and verified: those a message carries, or a file
imported on its own.

Each invoice file (with its SdI `_MT_` metadata when there is one) is kept byte-for-byte and
judged by `rules.passive.register_invoice`: the strict verdict, the company, the supplier
registry, duplicates, totals, signatures (the PEC envelope's verdict included).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wpec_invoicing.rules.passive import InvoiceFile, register_invoice
from wpec_invoicing.rules.passive import register_invoices as register_files


@dataclass(frozen=True)
class Registered:
    """One invoice of the message: its record, its state, and whether it is new."""

    id: int
    status: str
    created: bool
    # The record itself, held while the message is processed: the session only keeps weak
    # references to unchanged objects, and the events read it again by id; without this
    # each read was a query (and a flush of everything pending before it).
    record: Any = field(default=None, repr=False, compare=False)


def register_invoices(ctx: Any, session: Any, msg: Any, pec: Any,
                      envelope: dict[str, Any] | None,
                      reports: dict[str, Any] | None = None) -> list[Registered]:
    """The message's invoice files registered; `reports`: their verdicts already read (by
    file name), when the message was parsed ahead."""
    return register_messages(ctx, session, [(msg, pec, envelope, reports)])[msg.id]


def register_messages(ctx: Any, session: Any,
                      items: list[tuple[Any, Any, dict[str, Any] | None,
                                        dict[str, Any] | None]]
                      ) -> dict[int, list[Registered]]:
    """The invoice files of several messages (message, parse, envelope verdict, reports),
    registered together (one batch: see `rules.passive.register_invoices`), in the order
    one after the other would give; by message id."""
    files: list[InvoiceFile] = []
    owners: list[int] = []
    for msg, pec, envelope, reports in items:
        sdi = pec.sdi
        found = dict(sdi.files or {})
        metadata = None
        if sdi.metadata_file and sdi.metadata_file in found:
            metadata = (sdi.metadata_file, found[sdi.metadata_file])
        for name in sdi.invoice_files:
            data = found.get(name)
            if data is None:
                continue
            files.append(InvoiceFile(
                data, name, "pec", message_id=msg.id, metadata=metadata,
                identificativo_sdi=sdi.identificativo_sdi, envelope_signature=envelope,
                report=(reports or {}).get(name)))
            owners.append(msg.id)
    out: dict[int, list[Registered]] = {msg.id: [] for msg, *_ in items}
    results = register_files(session, ctx.config, ctx.archive, files, trust=ctx.trust)
    for owner, (inv, created) in zip(owners, results, strict=True):
        out[owner].append(Registered(inv.id, inv.status, created, inv))
    return out


def register_file(ctx: Any, session: Any, data: bytes, *, file_name: str, source: str,
                  source_path: str | None = None, metadata: tuple[str, bytes] | None = None,
                  report: Any = None) -> tuple[Registered, bool]:
    """One invoice file that came without a message; (registered, duplicate of another)."""
    inv, created = register_invoice(
        session, ctx.config, ctx.archive, data, file_name=file_name, source=source,
        source_path=source_path, metadata=metadata, trust=ctx.trust, report=report)
    duplicate = any(r.get("code") == "duplicate" for r in inv.reasons or [])
    return Registered(inv.id, inv.status, created), duplicate
