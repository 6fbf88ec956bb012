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


# -- mass mailings: CSV + template + attachments zip → preview → start ----------------------
MAX_ZIP_ENTRIES = 5_000
MAX_ZIP_BYTES = 300 * 1024 * 1024
PREVIEW = 5


class RecipientPreview(Model):
    row: int
    address: str
    subject: str | None = None
    body: str | None = None
    attachments: list[str]
    problems: list[str]


class MailingPreview(Model):
    token: str
    subject: str
    recipients: int
    first: list[RecipientPreview]
    problems: list[RecipientPreview]  # every row that cannot be sent (nothing starts then)


def _unzip(data: bytes) -> dict[str, bytes]:
    """The files of an attachments zip, by their path inside it (bounded: no zip bomb)."""
    import io
    import zipfile

    if not data:
        return {}
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        raise InvalidRequest(f"attachments: not a zip file ({exc})") from None
    entries = [i for i in archive.infolist() if not i.is_dir()]
    if len(entries) > MAX_ZIP_ENTRIES:
        raise InvalidRequest(f"attachments: {len(entries)} files, at most {MAX_ZIP_ENTRIES}")
    files: dict[str, bytes] = {}
    total = 0
    for info in entries:
        name = info.filename.replace("\\", "/").strip("/")
        if not name or any(part in ("", ".", "..") for part in name.split("/")) \
                or name.split("/")[-1].startswith("."):
            continue
        with archive.open(info) as fh:
            content = fh.read(MAX_ZIP_BYTES - total + 1)
        total += len(content)
        if total > MAX_ZIP_BYTES:
            raise InvalidRequest("attachments: more than 300 MB once unpacked")
        files[name] = content
    return files


def _row_files(row: dict[str, str], address: str, files: dict[str, bytes]) -> list[str]:
    """The zip paths a row sends: its `attachments` column, else its folder (id or address)."""
    names = [n.strip() for n in (row.get("attachments") or "").split(";") if n.strip()]
    if names:
        return names
    for key in (row.get("id") or "", address):
        if key:
            inside = sorted(p for p in files if p.startswith(f"{key}/"))
            if inside:
                return inside
    return []


def stage_mailing(ctx: AppContext, owner: str, *, recipients_csv: bytes, template: str,
                  attachments_zip: bytes = b"", account: str | None = None) -> MailingPreview:
    """Check every recipient (address, placeholders, files) and keep the mailing ready to
    start; the preview shows the first messages as they will go out."""
    import base64

    from wpec_invoicing.outbox.mailmerge import (
        TemplateError,
        parse_template,
        read_recipients,
        render,
    )
    from wpec_invoicing.pec.names import safe_filename

    try:
        text = recipients_csv.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = recipients_csv.decode("cp1252", errors="replace")  # Excel's Italian default
    try:
        parsed = parse_template(template.replace("\r\n", "\n"))
        rows, column = read_recipients(text)
    except TemplateError as exc:
        raise InvalidRequest(str(exc)) from None
    if not rows:
        raise InvalidRequest("recipients CSV: no rows")
    if len(rows) > 10_000:
        raise InvalidRequest(f"recipients CSV: {len(rows)} rows, at most 10000")
    if account is not None:
        ctx.config.account(account)  # an unknown account is a clear error now
    zipped = _unzip(attachments_zip)
    # Attachments go out under their own (safe) name; the zip path only chooses the file.
    files: dict[str, str] = {}
    first: list[RecipientPreview] = []
    problems: list[RecipientPreview] = []
    out_rows: list[dict[str, str]] = []
    for n, row in enumerate(rows, 1):
        address = row.get(column, "")
        paths = _row_files(row, address, zipped)
        row_problems = [f"attachment {p!r} is not in the zip" for p in paths if p not in zipped]
        names = []
        for p in paths:
            if p in zipped:
                # The zip path selects the file (two recipients' folders may each hold a
                # lettera.pdf); the recipient sees its own name (create_mailing keeps the
                # last path part).
                key = "/".join(safe_filename(part, "attachment") for part in p.split("/"))
                files[key] = base64.b64encode(zipped[p]).decode()
                names.append(key)
        rendered = render(parsed, row)
        if isinstance(rendered, list):
            row_problems += rendered
        if not address:
            row_problems.append("no address")
        preview = RecipientPreview(
            row=n, address=address, attachments=[k.rsplit("/", 1)[-1] for k in names],
            problems=row_problems,
            subject=None if isinstance(rendered, list) else rendered[0],
            body=None if isinstance(rendered, list) else rendered[1][:2000])
        if len(first) < PREVIEW:
            first.append(preview)
        if row_problems:
            problems.append(preview)
        out_rows.append({**row, "attachments": ";".join(names)})
    root = _root(ctx)
    _sweep(root)
    token = secrets.token_urlsafe(24)
    folder = root / token
    folder.mkdir(parents=True, mode=0o700)
    (folder / "batch.json").write_text(json.dumps({
        "owner": owner, "mailing": {"template": template.replace("\r\n", "\n"),
                                    "recipients": out_rows, "files": files,
                                    "account": account}}))
    return MailingPreview(token=token, subject=parsed.subject, recipients=len(rows),
                          first=first, problems=problems[:50])


def start_staged_mailing(ctx: AppContext, owner: str, token: str, *, actor: str) -> int:
    """Start a staged mailing (all recipients queued at once, or none); its id."""
    from wpec_invoicing.app.mailings import MailingIn, create_mailing

    folder, batch = _batch(ctx, owner, token)
    if "mailing" not in batch:
        raise NotFound("no such mailing upload")
    detail = create_mailing(ctx, MailingIn(**batch["mailing"]), actor=actor)
    shutil.rmtree(folder, ignore_errors=True)
    return detail.id
