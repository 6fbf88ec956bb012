"""app/render: PDFs of stored things by id (what the API's `.../{id}/pdf` routes and the
console's buttons call) and print batches to a folder."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from tests.integration.ingest.conftest import make_config
from tests.integration.ingest.factory import Factory
from wpec_invoicing.app import render as app_render
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import InvalidRequest, NotFound
from wpec_invoicing.ingest import store_raw_message
from wpec_invoicing.ingest.pipeline import Pipeline
from wpec_invoicing.store.models import ReceivedInvoice


@pytest.fixture
def ctx(tmp_path):
    config = make_config(tmp_path)
    with AppContext(config) as context:
        yield context


def _receive(ctx, factory: Factory, number: str) -> tuple[int, int, bytes]:
    xml = factory.invoice_xml(number=number)
    raw = factory.sdi_invoice(xml)
    with ctx.session() as s:
        msg, _ = store_raw_message(s, ctx.store.archive, raw, source="import")
        message_id = msg.id
    Pipeline.for_config(ctx.config, ctx.store).process_many([message_id])
    with ctx.session() as s:
        invoice_id = s.query(ReceivedInvoice.id).filter_by(message_id=message_id).scalar()
    return message_id, invoice_id, xml


def test_pdfs_by_id_and_print_batch(ctx, tmp_path):
    factory = Factory()
    message_id, invoice_id, xml = _receive(ctx, factory, "A-1")
    _receive(ctx, factory, "A-2")

    doc = app_render.received_invoice_pdf(ctx, invoice_id)
    assert doc.media_type == "application/pdf" and doc.file_name.endswith(".pdf")
    assert list(PdfReader(io.BytesIO(doc.content)).attachments.values()) == [[xml]]

    msg = app_render.message_pdf(ctx, message_id)
    assert msg.content.startswith(b"%PDF-") and msg.file_name == f"messaggio-{message_id}.pdf"
    assert app_render.message_pdf(ctx, message_id, fmt="html").content.startswith(b"<!DOC")

    with pytest.raises(NotFound):
        app_render.received_invoice_pdf(ctx, 999)
    with pytest.raises(NotFound):
        app_render.message_pdf(ctx, 999)
    with pytest.raises(NotFound):
        app_render.sent_invoice_pdf(ctx, 999)

    out = tmp_path / "batch"
    batch = app_render.print_invoices(ctx, out_dir=out)
    assert (batch.done, batch.failed) == (2, 0)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        i.pdf.rsplit("/", 1)[1] for i in batch.items)
    with pytest.raises(InvalidRequest):
        app_render.print_invoices(ctx)
    with pytest.raises(InvalidRequest):
        app_render.print_invoices(ctx, status="nonsense", out_dir=out)


def test_sent_invoice_pdf_is_the_file_the_outbox_sent(tmp_path):
    from tests.integration.outbox.helpers import make_outbox
    from tests.integration.outbox.test_correlate import queue_invoice

    outbox = make_outbox(tmp_path)
    try:
        _raw, queued = queue_invoice(outbox, progressivo="00042")
        with AppContext(outbox.config) as context:
            doc = app_render.sent_invoice_pdf(context, queued.id)
            [[original]] = PdfReader(io.BytesIO(doc.content)).attachments.values()
            assert original.startswith(b"<?xml") and doc.file_name == "IT01234567897_00042.pdf"
            with pytest.raises(NotFound):
                app_render.sent_invoice_pdf(context, queued.id + 100)
    finally:
        outbox.close()
