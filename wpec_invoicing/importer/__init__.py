"""Batch import of invoices and messages from files: `import_paths(config, store, paths)`.

Inputs: invoice files (XML, p7m), folders (recursively), `.zip` archives (nested too), `.eml`
messages (stored and processed like synced mail), SdI invoice + `_MT_` metadata pairs.
Nothing is ever extracted to disk: archives are read in memory with hard limits, so a zip bomb
or a hostile member name (`../../x`, `/etc/x`, `C:\\x`) is refused and reported, never
written. Re-importing the same files creates nothing new (the archive and the store are keyed
by sha256). The summary counts `imported`, `duplicates`, `invalid`, `skipped`, `refused`, and
says what happened to each input.
"""

from __future__ import annotations

import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from wpec_invoicing.errors import InputError

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024  # one entry (SdI's own limit is 5 MB per invoice)
MAX_TOTAL_BYTES = 500 * 1024 * 1024  # everything unpacked from one top-level archive
MAX_RATIO = 200  # compressed → uncompressed, for entries over 1 MB
MAX_ENTRIES = 20_000
MAX_DEPTH = 4  # zip inside zip inside …

_NOTIFICATION = re.compile(r"_(RC|NS|MC|NE|DT|AT|EC|SE|MT)_[A-Za-z0-9]{1,3}\.xml$", re.I)
_METADATA = re.compile(r"_MT_[A-Za-z0-9]{1,3}\.xml$", re.I)
INVOICE_EXT = (".xml", ".p7m")


@dataclass
class Entry:
    """One thing found in the inputs (a file, or a member of an archive)."""

    label: str  # what the user sees: path, or path!member for archive members
    name: str  # the base name
    load: Callable[[], bytes]


@dataclass
class ImportSummary:
    imported: int = 0
    duplicates: int = 0
    invalid: int = 0
    skipped: int = 0
    refused: int = 0
    items: list[dict[str, Any]] = field(default_factory=list)

    def add(self, label: str, result: str, reason: str | None = None, **extra: Any) -> None:
        counter = {"imported": "imported", "duplicate": "duplicates", "invalid": "invalid",
                   "skipped": "skipped", "refused": "refused"}[result]
        setattr(self, counter, getattr(self, counter) + 1)
        item = {"input": label, "result": result}
        if reason:
            item["reason"] = reason
        item.update({k: v for k, v in extra.items() if v is not None})
        self.items.append(item)

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "duplicates": self.duplicates,
                "invalid": self.invalid, "skipped": self.skipped, "refused": self.refused,
                "items": self.items}


class _Refused(Exception):
    pass


def _member_problem(name: str) -> str | None:
    """Why an archive member name is hostile (None when it is fine)."""
    if "\x00" in name:
        return "member name contains a NUL byte"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return "absolute member path"
    if any(part == ".." for part in PurePosixPath(normalized).parts):
        return "member path escapes the archive (..)"
    return None


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> bytes:
    """Read one member with a hard cap: declared sizes can lie, so count what comes out."""
    if info.file_size > MAX_FILE_BYTES:
        raise _Refused(f"entry of {info.file_size} bytes exceeds {MAX_FILE_BYTES}")
    if info.compress_size and info.file_size > 1_000_000 and \
            info.file_size / info.compress_size > MAX_RATIO:
        raise _Refused(f"compression ratio {info.file_size // info.compress_size}:1 "
                       "(zip bomb?)")
    out = bytearray()
    with zf.open(info) as handle:
        while chunk := handle.read(1 << 20):
            out += chunk
            if len(out) > min(MAX_FILE_BYTES, info.file_size + 1):
                raise _Refused("entry inflates beyond its declared size (zip bomb?)")
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise _Refused(f"archive unpacks to more than {MAX_TOTAL_BYTES} bytes "
                               "(zip bomb?)")
    return bytes(out)


def _zip_entries(data: bytes, label: str, summary: ImportSummary, depth: int,
                 budget: list[int]) -> Iterator[Entry]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as exc:  # BadZipFile, struct/zlib errors, bogus sizes…
        summary.add(label, "invalid", f"not a readable zip archive: {exc}")
        return
    if len(infos) > MAX_ENTRIES:
        summary.add(label, "refused", f"{len(infos)} entries (limit {MAX_ENTRIES})")
        return
    for info in infos:
        if info.is_dir():
            continue
        member_label = f"{label}!{info.filename}"
        problem = _member_problem(info.filename)
        if problem:
            summary.add(member_label, "refused", problem)
            continue
        if info.flag_bits & 0x1:
            summary.add(member_label, "refused", "encrypted archive member")
            continue
        try:
            content = _read_member(zf, info, budget)
        except _Refused as exc:
            summary.add(member_label, "refused", str(exc))
            if budget[0] < 0:
                return
            continue
        except Exception as exc:  # hostile bytes raise whatever zlib/zipfile/struct raise
            summary.add(member_label, "invalid", f"cannot unpack: {type(exc).__name__}: {exc}")
            continue
        name = PurePosixPath(info.filename.replace("\\", "/")).name
        if name.lower().endswith(".zip") or (content[:4] == b"PK\x03\x04"
                                             and not name.lower().endswith(INVOICE_EXT)):
            if depth >= MAX_DEPTH:
                summary.add(member_label, "refused", f"archives nested deeper than {MAX_DEPTH}")
                continue
            yield from _zip_entries(content, member_label, summary, depth + 1, budget)
            continue
        yield Entry(member_label, name, lambda content=content: content)


def _file_entries(path: Path, summary: ImportSummary) -> Iterator[Entry]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and not any(p.startswith(".") for p in
                                           child.relative_to(path).parts):
                yield from _file_entries(child, summary)
        return
    if not path.is_file():
        summary.add(str(path), "invalid", "no such file or folder")
        return
    size = path.stat().st_size
    if path.suffix.lower() == ".zip":
        if size > MAX_TOTAL_BYTES:
            summary.add(str(path), "refused", f"archive of {size} bytes is too big")
            return
        yield from _zip_entries(path.read_bytes(), str(path), summary, 1, [MAX_TOTAL_BYTES])
        return
    if size > MAX_FILE_BYTES:
        summary.add(str(path), "refused", f"file of {size} bytes exceeds {MAX_FILE_BYTES}")
        return
    yield Entry(str(path), path.name, path.read_bytes)


def collect(paths: list[Path], summary: ImportSummary) -> list[Entry]:
    """Every candidate entry of the inputs (archives opened, folders walked)."""
    entries: list[Entry] = []
    for path in paths:
        entries.extend(_file_entries(Path(path), summary))
    return entries


def import_paths(config: Any, store: Any, paths: list[Path], *,
                 progress: Callable[[int, int, str], None] | None = None) -> ImportSummary:
    """Import everything under `paths`; see the module docstring."""
    from wpec_invoicing.mailbox.sync import store_raw_message
    from wpec_invoicing.rules.engine import Processor, load_trust
    from wpec_invoicing.rules.passive import register_invoice
    from wpec_invoicing.sdi import decode_notification

    if not paths:
        raise InputError("nothing to import: give at least one file or folder")
    summary = ImportSummary()
    entries = collect(paths, summary)
    trust = load_trust(config)
    processor = Processor(config, store.archive, trust=trust)

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
                _import_eml(store, processor, entry, summary, store_raw_message)
            elif _NOTIFICATION.search(entry.name):
                summary.add(entry.label, "skipped", "SdI notification, not an invoice")
            elif lower.endswith(INVOICE_EXT):
                _import_invoice(config, store, entry, summary, metadata, trust,
                                register_invoice)
            else:
                summary.add(entry.label, "skipped", "not an invoice, message or archive")
        except Exception as exc:  # one bad input never stops the batch
            log.exception("import of %s failed", entry.label)
            summary.add(entry.label, "invalid", f"{type(exc).__name__}: {exc}")
    return summary


def _import_invoice(config, store, entry, summary, metadata, trust, register_invoice):
    from wpec_invoicing.rules.passive import read_report

    data = entry.load()
    report = read_report(data, entry.name, trust)
    if not report.readable or report.document is None:
        summary.add(entry.label, "invalid",
                    f"not a FatturaPA invoice: {getattr(report, 'error', None) or 'unreadable'}")
        return
    meta = metadata.get(entry.name.lower())
    with store.session() as s:
        inv, created = register_invoice(
            s, config, store.archive, data, file_name=entry.name, source="import",
            source_path=entry.label, metadata=meta, trust=trust)
        inv_id, status = inv.id, inv.status
        dup = any(r.get("code") == "duplicate" for r in inv.reasons or [])
    if not created:
        summary.add(entry.label, "duplicate", "already imported (same file)",
                    invoice_id=inv_id, status=status)
    elif dup:
        summary.add(entry.label, "duplicate", "same invoice as one already received",
                    invoice_id=inv_id, status=status)
    else:
        summary.add(entry.label, "imported", invoice_id=inv_id, status=status)


def _import_eml(store, processor, entry, summary, store_raw_message):
    data = entry.load()
    if b":" not in data[:2000]:
        summary.add(entry.label, "invalid", "not an RFC 5322 message")
        return
    with store.session() as s:
        msg, created = store_raw_message(s, store.archive, data, source="import")
        msg_id = msg.id
    if not created:
        summary.add(entry.label, "duplicate", "message already in the store", message_id=msg_id)
        return
    ok = processor.process_stored(store, msg_id)
    from wpec_invoicing.store.models import Message, ReceivedInvoice

    with store.session() as s:
        msg = s.get(Message, msg_id)
        kind = msg.kind
        invoices = [i.id for i in s.query(ReceivedInvoice).filter_by(message_id=msg_id)]
    if not ok:
        summary.add(entry.label, "invalid", msg.error, message_id=msg_id)
        return
    summary.add(entry.label, "imported", message_id=msg_id, kind=kind,
                invoice_ids=invoices or None)
