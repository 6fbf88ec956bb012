"""The archive as a whole: verify every blob, export a period for a conservation service.

Why an export in this shape: a conservation service ("conservazione a norma") takes a
hand-over package: the raw messages and the invoice originals byte for byte, an index that
says what each file is (CSV: easy to load anywhere), and a SHA-256 manifest in `sha256sum`
format so the receiver can check the package with standard tools.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from wpec_invoicing.housekeeping.verify import check_blobs
from wpec_invoicing.store.models import Message, ReceivedInvoice


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[dict] = field(default_factory=list)
    corrupt: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt

    def to_json(self) -> dict:
        return {"checked": self.checked, "ok": self.ok, "missing": self.missing,
                "corrupt": self.corrupt}


def verify_archive(session, archive) -> VerifyReport:
    """Re-hash every blob the store refers to (messages, invoice files and their metadata)
    and every other file in the archive; name what is missing or corrupt and who uses it."""
    refs: dict[str, tuple[int | None, str]] = {}
    for mid, sha, size in session.execute(select(Message.id, Message.sha256, Message.size)):
        refs.setdefault(sha, (size, f"message {mid}"))
    for iid, sha, size, meta in session.execute(select(
            ReceivedInvoice.id, ReceivedInvoice.file_sha256, ReceivedInvoice.size,
            ReceivedInvoice.metadata_sha256)):
        refs.setdefault(sha, (size, f"invoice {iid}"))
        if meta:
            refs.setdefault(meta, (None, f"invoice {iid} metadata"))
    for sha in archive.digests():  # every blob held, referenced or not
        refs.setdefault(sha, (None, "unreferenced blob"))
    problems = check_blobs(archive, [(sha, size) for sha, (size, _w) in refs.items()])
    report = VerifyReport(checked=len(refs))
    for sha, problem in problems.items():
        if problem is None:
            continue
        entry = {"sha256": sha, "used_by": refs[sha][1], "problem": problem}
        (report.missing if "missing" in problem else report.corrupt).append(entry)
    return report


@dataclass
class ExportReport:
    path: str
    messages: int = 0
    invoices: int = 0
    bytes: int = 0
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"path": self.path, "messages": self.messages, "invoices": self.invoices,
                "bytes": self.bytes, "problems": self.problems}


def _safe_name(name: str) -> str:
    base = os.path.basename(name.replace("\\", "/")) or "file"
    return "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in base)[:150]


def _pack(zf: zipfile.ZipFile, path: str, archive, sha256: str) -> int:
    """Stream one blob into the zip (a 100 MB message never sits whole in memory)."""
    size = 0
    with zf.open(path, "w", force_zip64=True) as dest:
        for piece in archive.iter_chunks(sha256):
            dest.write(piece)
            size += len(piece)
    return size


def export_archive(session, archive, since: datetime, until: datetime, out: Path
                   ) -> ExportReport:
    """Write `out` (a zip): messages/<id>-<sha>.eml, invoices/<id>-<name>, index.csv,
    SHA256SUMS. Covers what was archived in [since, until). A blob missing or corrupt is not
    packed and is named in the report (and in the index, status `missing`)."""
    report = ExportReport(str(out))
    index = io.StringIO()
    writer = csv.writer(index)
    writer.writerow(["type", "id", "path", "sha256", "size", "archived_at", "kind", "sender",
                     "subject", "message_id", "file_name", "status"])
    sums: list[str] = []
    tmp = out.with_name(out.name + ".part")
    msgs = list(session.scalars(select(Message).where(
        Message.first_seen_at >= since, Message.first_seen_at < until).order_by(Message.id)))
    invs = list(session.scalars(select(ReceivedInvoice).where(
        ReceivedInvoice.received_at >= since, ReceivedInvoice.received_at < until)
        .order_by(ReceivedInvoice.id)))
    checks = check_blobs(archive, [(m.sha256, m.size) for m in msgs]
                         + [(i.file_sha256, i.size) for i in invs])
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for m in msgs:
            path = f"messages/{m.id:08d}-{m.sha256[:16]}.eml"
            status = "ok"
            if checks.get(m.sha256):
                status = "missing"
                report.problems.append(f"message {m.id}: archive copy {checks[m.sha256]}")
            else:
                report.bytes += _pack(zf, path, archive, m.sha256)
                sums.append(f"{m.sha256}  {path}")
                report.messages += 1
            writer.writerow(["message", m.id, path if status == "ok" else "", m.sha256, m.size,
                             m.first_seen_at.isoformat(), m.kind or "", m.sender or "",
                             m.subject or "", m.message_id or "", "", status])
        for inv in invs:
            path = f"invoices/{inv.id:08d}-{_safe_name(inv.file_name or inv.file_sha256)}"
            status = "ok"
            if checks.get(inv.file_sha256):
                status = "missing"
                report.problems.append(f"invoice {inv.id}: archive copy "
                                       f"{checks[inv.file_sha256]}")
            else:
                report.bytes += _pack(zf, path, archive, inv.file_sha256)
                sums.append(f"{inv.file_sha256}  {path}")
                report.invoices += 1
            writer.writerow(["invoice", inv.id, path if status == "ok" else "",
                             inv.file_sha256, inv.size, inv.received_at.isoformat(), "",
                             inv.supplier_name or "", inv.number or "", "",
                             inv.file_name or "", status])
        index_bytes = index.getvalue().encode("utf-8")
        zf.writestr("index.csv", index_bytes)
        from wpec_invoicing.store.archive import sha256_hex

        sums.append(f"{sha256_hex(index_bytes)}  index.csv")
        zf.writestr("SHA256SUMS", "\n".join(sums) + "\n")
    os.replace(tmp, out)
    return report
