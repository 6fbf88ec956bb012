"""Readable copies as a use case: PDFs of received and sent invoices and of archived messages,
and batches of invoices to print or file.

What the interfaces call: the REST API's `.../{id}/pdf` routes (received invoices, sent
invoices, messages), the console's print/PDF buttons, `wpec invoices print`. Rendering itself
is `render/`; this module finds the stored bytes (the archive keeps every original byte for
byte) and hands them over.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import InvalidRequest, NotFound
from wpec_invoicing.app.models import Model
from wpec_invoicing.errors import InputError


class RenderedDocument(Model):
    """A document ready to be served or saved: bytes, media type, a file name to offer, and
    what is wrong with the original (also shown inside the document); `valid` is the
    invoice's verdict (None for a message)."""

    content: bytes
    media_type: str
    file_name: str
    problems: tuple[str, ...] = ()
    valid: bool | None = None


class PrintedInvoice(Model):
    """What a batch did with one invoice."""

    invoice_id: int
    number: str | None
    file_name: str | None
    outcome: Literal["printed", "saved", "failed"]
    pdf: str | None = None  # the file written, with -o DIR
    cups_job_id: str | None = None  # with --printer
    error: str | None = None


class PrintBatch(Model):
    items: list[PrintedInvoice]
    done: int
    failed: int


def _trust(ctx: AppContext):
    from wpec_invoicing.trust import load_trust

    return load_trust(ctx.config)


def _document(rendered) -> RenderedDocument:
    return RenderedDocument(content=rendered.content, media_type=rendered.media_type,
                            file_name=rendered.file_name, problems=tuple(rendered.problems),
                            valid=rendered.valid)


def _archive(ctx: AppContext):
    archive = ctx.store.archive
    if archive is None:
        raise NotFound("no archive is configured: stored files cannot be read")
    return archive


def render_invoice_file(data: bytes, *, file_name: str | None = None, fmt: str = "pdf",
                        style: str = "wpec", stylesheet: Path | None = None,
                        strict: bool = False, trust=None) -> RenderedDocument:
    """An invoice file given as bytes (a command's argument, an upload), rendered.

    Raises `render.documents.NotRenderable` (an `InputError`: one line, exit 2) when nothing
    can be read, `RefusedInvalid` (exit 1) when `strict` and the invoice is not valid."""
    from wpec_invoicing.render.documents import render_invoice

    return _document(render_invoice(data, file_name=file_name, fmt=fmt, style=style,
                                    stylesheet=stylesheet, strict=strict, trust=trust))


def render_message_file(raw: bytes, *, name: str | None = None, fmt: str = "pdf",
                        trust=None) -> RenderedDocument:
    """A message file (.eml) given as bytes, rendered (`NotRenderable` when it is none)."""
    from wpec_invoicing.render.documents import render_message

    return _document(render_message(raw, fmt=fmt, name=name, trust=trust))


def received_invoice_pdf(ctx: AppContext, invoice_id: int, *, fmt: str = "pdf",
                         style: str = "wpec") -> RenderedDocument:
    """The readable copy of a received invoice, its original file embedded (PDF)."""
    from wpec_invoicing.render.documents import render_invoice
    from wpec_invoicing.store.models import ReceivedInvoice

    with ctx.session() as s:
        inv = s.get(ReceivedInvoice, invoice_id)
        if inv is None:
            raise NotFound(f"received invoice {invoice_id} does not exist")
        sha, name = inv.file_sha256, inv.file_name
    data = _archive(ctx).get(sha)
    try:
        return _document(render_invoice(data, file_name=name or f"fattura-{invoice_id}.xml",
                                        fmt=fmt, style=style, trust=_trust(ctx)))
    except InputError as exc:
        raise InvalidRequest(str(exc)) from exc


def sent_invoice_pdf(ctx: AppContext, item_id: int, *, fmt: str = "pdf",
                     style: str = "wpec") -> RenderedDocument:
    """The readable copy of an invoice the outbox sent (the file inside the stored message)."""
    from wpec_invoicing.pec import list_attachments
    from wpec_invoicing.render.documents import render_invoice
    from wpec_invoicing.store.outbox_models import OutboxItem

    with ctx.session() as s:
        item = s.get(OutboxItem, item_id)
        if item is None or item.kind != "invoice":
            raise NotFound(f"sent invoice {item_id} does not exist")
        raw, name = item.raw, item.file_name
    files = list_attachments(raw)
    match = next((a for a in files if a.name == name), None) or next(
        (a for a in files if a.name.lower().endswith((".xml", ".p7m"))), None)
    if match is None:
        raise NotFound(f"sent invoice {item_id}: its message carries no invoice file")
    try:
        return _document(render_invoice(match.data, file_name=match.name, fmt=fmt,
                                        style=style, trust=_trust(ctx)))
    except InputError as exc:
        raise InvalidRequest(str(exc)) from exc


def message_pdf(ctx: AppContext, message_id: int, *, fmt: str = "pdf") -> RenderedDocument:
    """The readable copy of an archived message, the `.eml` embedded (PDF)."""
    from wpec_invoicing.render.documents import render_message
    from wpec_invoicing.store.models import Message

    with ctx.session() as s:
        msg = s.get(Message, message_id)
        if msg is None:
            raise NotFound(f"message {message_id} does not exist")
        sha = msg.sha256
    raw = _archive(ctx).get(sha)
    try:
        return _document(render_message(raw, fmt=fmt, name=f"messaggio-{message_id}",
                                        trust=_trust(ctx)))
    except InputError as exc:
        raise InvalidRequest(str(exc)) from exc


def print_invoices(ctx: AppContext, *, status: str | None = None, since: date | None = None,
                   out_dir: Path | None = None, printer: str | None = None,
                   server: str | None = None) -> PrintBatch:
    """Render the received invoices chosen by `status`/`since` and file them in `out_dir`
    and/or print them on `printer`. One failing invoice never stops the batch."""
    from wpec_invoicing.render.printing import Printable, attachment_printable, deliver
    from wpec_invoicing.rules.invoices import list_invoices

    if out_dir is None and not printer:
        raise InvalidRequest("say where: an output folder, a printer, or both")
    with ctx.session() as s:
        try:
            rows = [(inv.id, inv.number, inv.file_name, inv.file_sha256)
                    for inv in list_invoices(s, status=status, since=since)]
        except InputError as exc:
            raise InvalidRequest(str(exc)) from exc
    trust = _trust(ctx)
    items: list[PrintedInvoice] = []
    for invoice_id, number, name, sha in rows:
        file_name = name or f"fattura-{invoice_id}.xml"
        try:
            printable: Printable = attachment_printable(
                file_name, _archive(ctx).get(sha), "application/xml", trust)
            if printable.pdf is None:
                raise InputError(printable.reason or "not printable")
            outcome = deliver([printable], folder=out_dir, printer=printer, server=server,
                              title=f"fattura {number or invoice_id}")
        except Exception as exc:  # one bad file or a printer hiccup: reported, batch goes on
            items.append(PrintedInvoice(invoice_id=invoice_id, number=number,
                                        file_name=name, outcome="failed", error=str(exc)))
            continue
        items.append(PrintedInvoice(
            invoice_id=invoice_id, number=number, file_name=name,
            outcome="printed" if printer else "saved",
            pdf=outcome.files[0] if outcome.files else None,
            cups_job_id=outcome.cups_job_ids[0] if outcome.cups_job_ids else None))
    failed = sum(1 for i in items if i.outcome == "failed")
    return PrintBatch(items=items, done=len(items) - failed, failed=failed)


def run_print_queue(ctx: AppContext) -> tuple[int, int]:
    """Carry out the queued print jobs that are due (the `print` rule action's); (done,
    given up)."""
    from wpec_invoicing.render.printing import run_print_jobs

    return run_print_jobs(ctx.store, ctx.config, trust=_trust(ctx))
