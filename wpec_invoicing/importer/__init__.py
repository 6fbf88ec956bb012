"""Batch import of invoices and messages from files: `import_paths(config, store, paths)`.

Inputs: invoice files (XML, p7m), folders (recursively), `.zip` archives (nested too), `.eml`
messages (stored and processed like synced mail), SdI invoice + `_MT_` metadata pairs.
Nothing is ever extracted to disk: archives are read in memory with hard limits, so a zip bomb
or a hostile member name (`../../x`, `/etc/x`, `C:\\x`) is refused and reported, never
written. Re-importing the same files creates nothing new (the archive and the store are keyed
by sha256). The summary counts `imported`, `duplicates`, `invalid`, `skipped`, `refused`, and
says what happened to each input.

May import: `ingest` (every `.eml` takes the ingestion pipeline), `rules`, `store`,
formats, `config`, `inputs`, `errors`; never `app/` or the interfaces.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wpec_invoicing.errors import InputError
from wpec_invoicing.importer.archives import INVOICE_EXT, collect
from wpec_invoicing.importer.model import Entry, ImportSummary

__all__ = ["Entry", "ImportSummary", "collect", "import_paths"]

log = logging.getLogger(__name__)

_NOTIFICATION = re.compile(r"_(RC|NS|MC|NE|DT|AT|EC|SE|MT)_[A-Za-z0-9]{1,3}\.xml$", re.I)
_METADATA = re.compile(r"_MT_[A-Za-z0-9]{1,3}\.xml$", re.I)


def import_paths(config: Any, store: Any, paths: list[Path], *,
                 progress: Callable[[int, int, str], None] | None = None) -> ImportSummary:
    """Import everything under `paths`; see the module docstring."""
    from wpec_invoicing.ingest.pipeline import Pipeline
    from wpec_invoicing.sdi import decode_notification

    if not paths:
        raise InputError("nothing to import: give at least one file or folder")
    summary = ImportSummary()
    entries = collect(paths, summary)
    pipeline = Pipeline.for_config(config, store)

    # Metadata files first, so each invoice meets its _MT_ wherever it sits.
    metadata: dict[str, tuple[str, bytes]] = {}
    rest: list[Entry] = []
    for entry in entries:
        if _METADATA.search(entry.name):
            data = entry.load()
            try:
                note = decode_notification(entry.name, data)
            except Exception as exc:  # an unreadable _MT_ is reported; its invoice still goes
                summary.add(entry.label, "invalid", f"unreadable SdI metadata: {exc}")
                continue
            key = (note.nome_file or "").lower()
            metadata[key] = (entry.name, data)
            summary.add(entry.label, "skipped", "SdI metadata (kept with its invoice)",
                        invoice_file=note.nome_file)
        else:
            rest.append(entry)

    total = len(rest)
    for index, entry in enumerate(rest, start=1):
        if progress:
            progress(index, total, entry.label)
        lower = entry.name.lower()
        try:
            if lower.endswith(".eml"):
                _import_eml(store, pipeline, entry, summary)
            elif _NOTIFICATION.search(entry.name):
                summary.add(entry.label, "skipped", "SdI notification, not an invoice")
            elif lower.endswith(INVOICE_EXT):
                _import_invoice(pipeline, entry, summary, metadata)
            else:
                summary.add(entry.label, "skipped", "not an invoice, message or archive")
        except Exception as exc:  # one bad input never stops the batch
            # The summary says what and why, once; the traceback only for debugging.
            log.debug("import of %s failed", entry.label, exc_info=True)
            if isinstance(exc, OSError) and exc.filename:
                why = f"{exc.filename}: {exc.strerror or exc}"
            else:
                why = f"{type(exc).__name__}: {exc}"
            summary.add(entry.label, "invalid", why)
    return summary


def _import_invoice(pipeline, entry, summary, metadata):
    from wpec_invoicing.rules.passive import read_report

    data = entry.load()
    report = read_report(data, entry.name, pipeline.ctx.trust)
    if not report.readable or report.document is None:
        summary.add(entry.label, "invalid",
                    f"not a FatturaPA invoice: {getattr(report, 'error', None) or 'unreadable'}",
                    codes=list(report.codes) or None)
        return
    registered, dup = pipeline.ingest_invoice_file(
        data, file_name=entry.name, source="import", source_path=entry.label,
        metadata=metadata.get(entry.name.lower()), report=report)
    inv_id, status = registered.id, registered.status
    if not registered.created:
        summary.add(entry.label, "duplicate", "already imported (same file)",
                    invoice_id=inv_id, status=status)
    elif dup:
        summary.add(entry.label, "duplicate", "same invoice as one already received",
                    invoice_id=inv_id, status=status)
    else:
        summary.add(entry.label, "imported", invoice_id=inv_id, status=status)


def _import_eml(store, pipeline, entry, summary):
    data = entry.load()
    if b":" not in data[:2000]:
        summary.add(entry.label, "invalid", "not an RFC 5322 message")
        return
    msg_id, created, ok = pipeline.ingest_raw(data, source="import")
    if not created:
        summary.add(entry.label, "duplicate", "message already in the store", message_id=msg_id)
        return
    from wpec_invoicing.store.models import Message, ReceivedInvoice

    with store.session() as s:
        msg = s.get(Message, msg_id)
        kind = msg.kind
        problems = list((msg.details or {}).get("problems") or []) or None
        invoices = [i.id for i in s.query(ReceivedInvoice).filter_by(message_id=msg_id)]
    if not ok:
        summary.add(entry.label, "invalid", msg.error, message_id=msg_id)
        return
    summary.add(entry.label, "imported", message_id=msg_id, kind=kind,
                invoice_ids=invoices or None, problems=problems)
