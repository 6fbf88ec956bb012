"""Invoice files uploaded in the console: checked first, queued after the operator has seen
the report.

Why a staging area (and not "validate and queue" in one request): the operator uploads a
batch, reads which files SdI would refuse and why, and only then queues the valid ones, with
one click and without uploading them again. Staged files sit in the data folder under a
random token bound to the user who uploaded them, and go away once queued or after a day.
"""

from __future__ import annotations

import json
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import AppError, InvalidRequest, NotFound
from wpec_invoicing.app.models import Model
from wpec_invoicing.app.timefmt import Money

MAX_FILES = 200
MAX_FILE_BYTES = 5 * 1024 * 1024  # SdI's limit for one file
KEEP_SECONDS = 24 * 3600


class FileVerdict(Model):
    """What SdI's checks say of one uploaded file, before anything is queued."""

    index: int
    file_name: str
    valid: bool
    reasons: list[str]
    number: str | None = None
    customer: str | None = None
    total: Money | None = None


class Staged(Model):
    token: str
    files: list[FileVerdict]

    @property
    def valid_count(self) -> int:
        return sum(1 for f in self.files if f.valid)


class QueueOutcome(Model):
    file_name: str
    queued_id: int | None = None
    error: str | None = None


def _root(ctx: AppContext) -> Path:
    return Path(ctx.config.data_dir) / "console-uploads"


def _sweep(root: Path) -> None:
    """Forget staged batches older than a day (never queued: the operator walked away)."""
    if not root.is_dir():
        return
    cutoff = time.time() - KEEP_SECONDS
    for folder in root.iterdir():
        if folder.is_dir() and folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def _verdict(ctx: AppContext, index: int, name: str, data: bytes) -> FileVerdict:
    from wpec_invoicing.outbox.queue import Outbox, Refusal

    if len(data) > MAX_FILE_BYTES:
        return FileVerdict(index=index, file_name=name, valid=False,
                           reasons=[f"00003: {len(data)} bytes, SdI accepts at most 5 MB"])
    prepared = Outbox(ctx.config, store=ctx.store).prepare_invoice_file(data, name)
    if isinstance(prepared, Refusal):
        return FileVerdict(index=index, file_name=name, valid=False,
                           reasons=list(prepared.reasons))
    doc: dict[str, Any] = prepared.document or {}
    customer = doc.get("customer")
    return FileVerdict(index=index, file_name=name, valid=True, reasons=[],
                       number=prepared.invoice_number,
                       customer=customer if isinstance(customer, str) else None,
                       total=doc.get("total"))


def stage_invoice_files(ctx: AppContext, owner: str,
                        files: list[tuple[str, bytes]]) -> Staged:
    """Check each file as SdI would (one bad file never stops the others) and keep them
    for `queue_staged`."""
    from wpec_invoicing.pec.names import safe_filename

    if not files:
        raise InvalidRequest("no file uploaded")
    if len(files) > MAX_FILES:
        raise InvalidRequest(f"{len(files)} files: at most {MAX_FILES} at a time")
    root = _root(ctx)
    _sweep(root)
    token = secrets.token_urlsafe(24)
    folder = root / token
    folder.mkdir(parents=True, mode=0o700)
    verdicts = []
    for index, (raw_name, data) in enumerate(files):
        name = safe_filename(Path(raw_name or "").name, f"file-{index}.xml")
        try:
            verdict = _verdict(ctx, index, name, data)
        except Exception as exc:  # a file that breaks the checker is a refused file
            verdict = FileVerdict(index=index, file_name=name, valid=False,
                                  reasons=[f"cannot be read: {type(exc).__name__}: {exc}"])
        verdicts.append(verdict)
        if verdict.valid:
            (folder / f"{index:04d}").write_bytes(data)
    (folder / "batch.json").write_text(json.dumps({
        "owner": owner, "files": [v.model_dump(mode="json") for v in verdicts]}))
    return Staged(token=token, files=verdicts)


def _batch(ctx: AppContext, owner: str, token: str) -> tuple[Path, dict[str, Any]]:
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        raise NotFound("no such upload")
    folder = _root(ctx) / token
    try:
        batch = json.loads((folder / "batch.json").read_text())
    except (OSError, ValueError):
        raise NotFound("this upload is no longer here: upload the files again") from None
    if batch.get("owner") != owner:
        raise NotFound("no such upload")
    return folder, batch


def staged(ctx: AppContext, owner: str, token: str) -> Staged:
    _folder, batch = _batch(ctx, owner, token)
    return Staged(token=token, files=[FileVerdict(**f) for f in batch["files"]])


def queue_staged(ctx: AppContext, owner: str, token: str, *,
                 account: str | None = None) -> list[QueueOutcome]:
    """Queue the valid files of a staged batch for SdI, each on its own (one refused at this
    point, e.g. a file name already sent, does not stop the others); the batch goes away."""
    from wpec_invoicing.app.sent import submit_file

    folder, batch = _batch(ctx, owner, token)
    outcomes = []
    for f in batch["files"]:
        if not f["valid"]:
            continue
        data = (folder / f"{f['index']:04d}").read_bytes()
        try:
            submission = submit_file(ctx, data, f["file_name"], account=account)
            outcomes.append(QueueOutcome(file_name=f["file_name"],
                                         queued_id=submission.items[0].id))
        except AppError as exc:
            outcomes.append(QueueOutcome(file_name=f["file_name"], error=str(exc)))
    shutil.rmtree(folder, ignore_errors=True)
    return outcomes
