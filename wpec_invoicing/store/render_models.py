"""The print queue (migration `0005_render`): one row per document to print or file as PDF.

WHY a queue: a rule's `print` action runs inside the processing transaction of a message; a
printer that is off, out of paper or unreachable must never hold up or fail the sync. So the
action only records a job (committed with the message's classification); `render.printing`
carries jobs out after the sync, records CUPS's job id, retries failures with a growing delay
and raises an alert when it gives up.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from wpec_invoicing.store.db import Base
from wpec_invoicing.store.models import utcnow


class PrintJob(Base):
    """A message's parts (or a received invoice) to file as PDF and/or print."""

    __tablename__ = "print_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), index=True)
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("received_invoices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str | None] = mapped_column(String(40))  # the rule kind that asked
    parts: Mapped[list | None] = mapped_column(JSON)  # header, body, attachments
    folder: Mapped[str | None] = mapped_column(Text)  # where the PDFs go (already expanded)
    printer: Mapped[str | None] = mapped_column(String(200))  # CUPS queue name
    server: Mapped[str | None] = mapped_column(String(300))  # CUPS server (lp -h), optional
    # pending → done | failed (gave up after the last attempt; an alert was raised)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cups_job_ids: Mapped[list | None] = mapped_column(JSON)  # e.g. ["PDF-12", "PDF-13"]
    files: Mapped[list | None] = mapped_column(JSON)  # PDFs written to `folder`
    not_printable: Mapped[list | None] = mapped_column(JSON)  # attachments listed, not printed
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
