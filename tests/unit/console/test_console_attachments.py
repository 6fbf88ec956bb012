"""Fatture ricevute: the invoice's embedded attachments (Allegati) are previewed (PDF in a
sandboxed iframe, images inline) and downloaded under a safe name with the sniffed type."""

from dataclasses import replace

from tests.unit.console.conftest import login
from wpec_invoicing.app import received
from wpec_invoicing.fatturapa import invoice_file_name, write_invoice
from wpec_invoicing.fatturapa.model import Attachment
from wpec_invoicing.fatturapa.samples import sample_invoice

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def _with_attachments(ctx) -> int:
    from datetime import date

    doc = sample_invoice(progressivo="00077", on=date(2026, 2, 3))
    body = replace(doc.bodies[0], attachments=(
        Attachment(name="../../contratto.pdf", data=PDF, format="PDF"),
        Attachment(name="foto.png", data=PNG, description="Merce consegnata")))
    doc = replace(doc, bodies=(body,))
    outcome = received.import_files(ctx, [(invoice_file_name("IT", "01234567890", "00077"),
                                           write_invoice(doc))])
    assert outcome.imported == 1, outcome.items
    return outcome.items[0]["invoice_id"]


def test_attachments_are_previewed_and_downloaded(client, ctx):
    invoice_id = _with_attachments(ctx)
    login(client, "vera")
    page = client.get(f"/fatture-ricevute/{invoice_id}").text
    assert f'<iframe src="/fatture-ricevute/{invoice_id}/allegati/1?inline=1" sandbox' in page
    assert f'<img src="/fatture-ricevute/{invoice_id}/allegati/2?inline=1"' in page
    pdf = client.get(f"/fatture-ricevute/{invoice_id}/allegati/1?inline=1")
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("inline;")
    assert "contratto.pdf" in pdf.headers["content-disposition"]
    assert ".." not in pdf.headers["content-disposition"]
    png = client.get(f"/fatture-ricevute/{invoice_id}/allegati/2")
    assert png.headers["content-type"] == "image/png"
    assert png.headers["content-disposition"].startswith("attachment;")
    assert client.get(f"/fatture-ricevute/{invoice_id}/allegati/3").status_code == 404
