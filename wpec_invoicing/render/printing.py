"""Printing and filing PDFs: CUPS through `lp`, a folder of PDFs, and the print queue.

What becomes a PDF, per part of a message:
- `header` and `body`: the message view (`render_message`; without `body` the text is left out);
- `attachments`: a PDF passes through unchanged, an image (PNG, JPEG, GIF, TIFF, WebP) is put on
  an A4 page, an invoice file (XML or p7m) is rendered with the invoice view, anything else is
  listed as not printable (its name, type and why) on the job, never silently dropped.

Why `lp` and not IPP by hand: `lp` is CUPS's own client, honours `CUPS_SERVER` and the
user's `~/.cups/client.conf`, and prints `request id is QUEUE-42 (1 file(s))`, the job id we
record. A failed job is retried with a growing delay (1, 5, 15, 60 minutes...) and, after the
last attempt, marked failed and alerted; the sync that queued it has long finished.
"""

from __future__ import annotations

import logging
import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from wpec_invoicing.errors import WpecError

log = logging.getLogger(__name__)

PARTS = ("header", "body", "attachments")
RETRY_DELAYS_MIN = (1, 5, 15, 60, 240)  # then: failed + alert
AFTER_SYNC_BUDGET_S = 30.0  # after a sync, start no new print job past this
LP_TIMEOUT_S = 60
_JOB_ID = re.compile(r"request id is (\S+)")
_IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/tiff", "image/webp"}


class PrintError(WpecError):
    """The printer (CUPS) did not take the job."""

    exit_code = 1


@dataclass(frozen=True)
class Printable:
    """One PDF to file or print, or (pdf None) a part that cannot be printed, and why."""

    name: str
    pdf: bytes | None
    reason: str | None = None


def lp(pdf: bytes, printer: str, *, title: str, server: str | None = None,
       copies: int = 1) -> str:
    """Hand one PDF to CUPS; the job id (`QUEUE-42`). Raises PrintError with lp's words."""
    command = ["lp", "-d", printer, "-t", title[:200] or "wpec", "-n", str(copies)]
    if server:
        command[1:1] = ["-h", server]
    try:
        done = subprocess.run(command, input=pdf, capture_output=True, timeout=LP_TIMEOUT_S,
                              check=False)
    except FileNotFoundError as exc:
        raise PrintError("cannot print: `lp` (CUPS client) is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise PrintError(f"printer {printer}: lp did not answer in {LP_TIMEOUT_S}s") from exc
    out = done.stdout.decode("utf-8", "replace")
    err = done.stderr.decode("utf-8", "replace").strip()
    if done.returncode != 0:
        raise PrintError(f"printer {printer}: {err or f'lp exited {done.returncode}'}")
    match = _JOB_ID.search(out)
    if not match:
        raise PrintError(f"printer {printer}: lp gave no job id ({out.strip() or err})")
    return match.group(1)


def image_pdf(name: str, data: bytes, content_type: str) -> bytes:
    """An image on an A4 page (fitted, centred), with its name as a caption."""
    import base64
    from html import escape

    from wpec_invoicing.render.pdf import html_to_pdf

    uri = f"data:{content_type};base64,{base64.b64encode(data).decode()}"
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
        "@page{size:A4;margin:12mm} body{margin:0;font-family:'DejaVu Sans',sans-serif;"
        "font-size:8pt;color:#556} img{display:block;max-width:100%;max-height:260mm;"
        "margin:0 auto}</style></head><body>"
        f"<p>{escape(name)}</p><img src='{uri}' alt='{escape(name)}'></body></html>")
    return html_to_pdf(html)


def _sniff(data: bytes) -> str | None:
    import filetype

    kind = filetype.guess(data[:8192]) if data else None
    return kind.mime if kind else None


def attachment_printable(name: str, data: bytes, content_type: str,
                         trust: Any = None) -> Printable:
    """What printing one attachment means (see the module docstring)."""
    from wpec_invoicing.render.documents import NotRenderable, render_invoice

    sniffed = _sniff(data)
    if data[:5] == b"%PDF-" or sniffed == "application/pdf":
        return Printable(name, data)
    if sniffed in _IMAGE_TYPES:
        return Printable(f"{name}.pdf", image_pdf(name, data, sniffed))
    lowered = name.lower()
    if lowered.endswith((".xml", ".p7m")):
        try:
            rendered = render_invoice(data, file_name=name, fmt="pdf", trust=trust)
        except NotRenderable as exc:
            return Printable(name, None, f"not an invoice that can be rendered: {exc}")
        return Printable(rendered.file_name, rendered.content)
    what = sniffed or content_type or "unknown type"
    return Printable(name, None, f"not printable ({what})")


def message_printables(raw: bytes, parts: list[str], *, trust: Any = None,
                       name: str = "messaggio") -> list[Printable]:
    """The PDFs (and the unprintable parts) of one message, in reading order."""
    from wpec_invoicing.pec import inspect
    from wpec_invoicing.render.documents import render_message

    out: list[Printable] = []
    if "header" in parts or "body" in parts:
        # the invoice an SdI envelope carries is printed once: as an attachment when those
        # are printed, else after the message
        rendered = render_message(raw, fmt="pdf", name=name, trust=trust,
                                  show_body="body" in parts,
                                  show_invoices="attachments" not in parts)
        out.append(Printable(rendered.file_name, rendered.content))
    if "attachments" in parts:
        pec = inspect(raw, trust=trust)
        for att in pec.attachments:
            out.append(attachment_printable(att.name, att.data, att.content_type, trust))
    return out


@dataclass
class JobOutcome:
    """What carrying out one print job did."""

    files: list[str] = field(default_factory=list)
    cups_job_ids: list[str] = field(default_factory=list)
    not_printable: list[dict[str, str]] = field(default_factory=list)


def deliver(printables: list[Printable], *, folder: Path | None, printer: str | None,
            server: str | None = None, title: str = "wpec") -> JobOutcome:
    """Write the PDFs to `folder` and/or send them to `printer`. Raises on the first printer
    or disk failure (the caller retries the whole job: a folder write is idempotent)."""
    from wpec_invoicing.rules.files import write_file

    outcome = JobOutcome()
    for item in printables:
        if item.pdf is None:
            outcome.not_printable.append({"name": item.name, "reason": item.reason or ""})
            continue
        if folder is not None:
            pdf_name = item.name if item.name.lower().endswith(".pdf") else f"{item.name}.pdf"
            outcome.files.append(str(write_file(folder, pdf_name, item.pdf)))
        if printer:
            outcome.cups_job_ids.append(lp(item.pdf, printer, title=f"{title} {item.name}",
                                           server=server))
    return outcome


def _next_delay(attempts: int) -> timedelta | None:
    if attempts > len(RETRY_DELAYS_MIN):
        return None
    return timedelta(minutes=RETRY_DELAYS_MIN[attempts - 1])


def _alert(session: Any, job: Any) -> None:
    from wpec_invoicing.store.outbox_models import OutboxAlert

    target = job.printer or job.folder
    session.add(OutboxAlert(account=None, kind="print-failed", message=(
        f"print job {job.id} (message {job.message_id}, invoice {job.invoice_id}) to {target} "
        f"failed {job.attempts} times; last error: {job.last_error}")[:4000]))


def run_print_jobs(store: Any, config: Any = None, *, now: datetime | None = None,
                   trust: Any = None, limit: int = 200,
                   budget_s: float | None = None) -> tuple[int, int]:
    """Carry out the print jobs that are due; (done, given up this round). Each job in its
    own transaction: one bad printer or file never stops the others. A printer that failed
    once this round is not tried again in it (its other jobs wait for the next round, without
    counting an attempt), and with `budget_s` no new job starts once that much time is spent:
    the after-sync hook passes a budget so a broken printer never holds up a sync."""
    from sqlalchemy import or_, select

    from wpec_invoicing.store.models import Message, ReceivedInvoice
    from wpec_invoicing.store.render_models import PrintJob

    now = now or datetime.now(UTC)
    with store.session() as session:
        ids = list(session.scalars(
            select(PrintJob.id).where(
                PrintJob.status == "pending",
                or_(PrintJob.next_attempt_at.is_(None), PrintJob.next_attempt_at <= now))
            .order_by(PrintJob.id).limit(limit)))
    done = failed = 0
    started = time.monotonic()
    broken: set[tuple[str | None, str]] = set()  # (server, printer) that failed this round
    for job_id in ids:
        if budget_s is not None and time.monotonic() - started > budget_s:
            break
        with store.session() as session:
            job = session.get(PrintJob, job_id)
            if job is None or job.status != "pending":
                continue
            if job.printer and (job.server, job.printer) in broken:
                continue
            job.attempts += 1
            try:
                if job.invoice_id is not None:
                    inv = session.get(ReceivedInvoice, job.invoice_id)
                    data = store.archive.get(inv.file_sha256)
                    printables = [attachment_printable(inv.file_name or f"{inv.id}.xml",
                                                       data, "application/xml", trust)]
                    title = f"fattura {inv.number or inv.id}"
                else:
                    msg = session.get(Message, job.message_id)
                    raw = store.archive.get(msg.sha256)
                    printables = message_printables(raw, list(job.parts or PARTS), trust=trust,
                                                    name=f"messaggio-{msg.id}")
                    title = f"messaggio {msg.id}"
                outcome = deliver(printables, folder=Path(job.folder) if job.folder else None,
                                  printer=job.printer, server=job.server, title=title)
            except Exception as exc:  # a printer, a disk, a file: retried, never fatal
                if isinstance(exc, PrintError) and job.printer:
                    broken.add((job.server, job.printer))
                job.last_error = f"{type(exc).__name__}: {exc}"[:4000]
                delay = _next_delay(job.attempts)
                if delay is None:
                    job.status = "failed"
                    _alert(session, job)
                    failed += 1
                else:
                    job.next_attempt_at = now + delay
                log.warning("print job %s failed (attempt %s): %s", job.id, job.attempts, exc)
                continue
            job.status, job.done_at, job.last_error = "done", datetime.now(UTC), None
            job.files, job.cups_job_ids = outcome.files, outcome.cups_job_ids
            job.not_printable = outcome.not_printable
            done += 1
    return done, failed


def after_sync(session: Any, config: Any) -> int:
    """The after-sync hook (`mailbox.observers.AFTER_SYNC`): run the due print jobs; returns
    the number of alerts raised (jobs given up this round). Costs one query when nothing
    is queued."""
    from sqlalchemy import select

    from wpec_invoicing.store.db import Store
    from wpec_invoicing.store.render_models import PrintJob

    if session.scalar(select(PrintJob.id).where(PrintJob.status == "pending").limit(1)) is None:
        return 0

    store = Store.from_config(config, migrate=False)
    try:
        _done, failed = run_print_jobs(store, config, budget_s=AFTER_SYNC_BUDGET_S)
    finally:
        store.close()
    return failed
