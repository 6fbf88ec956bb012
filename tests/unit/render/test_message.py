"""PEC messages rendered for people: header, kind in words, daticert, signature verdict, the
body sanitised, attachments; SdI notifications with their errors; the invoice an SdI envelope
carries."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from tests.unit.pec.conftest import pki  # noqa: F401 - the session PKI fixture
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.pec import builder as b
from wpec_invoicing.render.documents import NotRenderable, render_message
from wpec_invoicing.sdi import SdiError, SdiNotification, build_notification, mail_subject
from wpec_invoicing.sdi import notification_file_name as nfn

from .conftest import pdf_text, save_first_page

WHEN = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)

HOSTILE_HTML = (
    '<html><head><style>body{background:url(http://127.0.0.1:9/bg.png)}</style>'
    '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head><body>'
    '<p onclick="steal()">Gentile cliente, <b>in allegato</b> la fattura.</p>'
    '<script>alert("x")</script><img src="http://127.0.0.1:9/pixel.png">'
    '<iframe src="file:///etc/passwd"></iframe><form action="http://x"><input></form>'
    '</body></html>'
)


def _html_mail() -> bytes:
    boundary = "b-html-1"
    return (
        "From: fornitore@pec.test\r\nTo: azienda@pec.test\r\n"
        "Subject: Fattura di novembre\r\nDate: Tue, 03 Nov 2026 10:00:00 +0000\r\n"
        "Message-ID: <html.1@pec.test>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Gentile cliente, in allegato la fattura.\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{HOSTILE_HTML}\r\n"
        f"--{boundary}--\r\n"
    ).encode()


def test_certified_message_shows_header_certification_and_signature(pki, tmp_path):  # noqa: F811
    original = b.compose(sender="fornitore@pec.test", to=["azienda@pec.test"],
                         subject="Ordine n. 42", text="Buongiorno,\nconfermiamo l'ordine.\n",
                         attachments=[("ordine.pdf", b"%PDF-1.4 x", "application/pdf")],
                         date=WHEN)
    raw = b.transport_envelope(original, provider=pki.sha256, timestamp=WHEN)
    rendered = render_message(raw, fmt="pdf", name="m.eml", trust=pki.trust)
    save_first_page(rendered.content, "message-posta-certificata")
    text = pdf_text(rendered.content, tmp_path)
    for expected in ("Messaggio di posta elettronica certificata", "fornitore@pec.test",
                     "azienda@pec.test", "Ordine n. 42", "Gestore Test S.p.A.",
                     "integra", "attendibile", "confermiamo l'ordine", "ordine.pdf",
                     "Casella PEC"):
        assert expected.upper() in text.upper(), expected
    assert PdfReader(io.BytesIO(rendered.content)).attachments == {"m.eml": [raw]}


def test_html_body_is_sanitised_and_nothing_is_fetched(pki, tmp_path):  # noqa: F811
    raw = b.transport_envelope(_html_mail(), provider=pki.sha256, timestamp=WHEN)
    html = render_message(raw, fmt="html").content.decode()
    assert "in allegato" in html
    for bad in ("<script", "onclick", "127.0.0.1", "<iframe", "<form", "<link", "url("):
        assert bad not in html.split("</style>", 1)[1], bad
    rendered = render_message(raw, fmt="pdf")
    assert rendered.refused == ()
    assert "in allegato" in pdf_text(rendered.content, tmp_path)


def test_sdi_rejection_shows_outcome_and_errors(pki, tmp_path):  # noqa: F811
    name = nfn("IT01234567897_00042.xml", "NS", 1)
    ns = build_notification(SdiNotification(
        kind="NS", family="b2b", identificativo_sdi="6782414",
        nome_file="IT01234567897_00042.xml", data_ora_ricezione=WHEN, message_id="1",
        errors=(SdiError("00305", "1.4.1.1.2 <IdCodice> non valido : 12345678901",
                         "Verificare la partita IVA del cessionario"),
                SdiError("00423", "2.2.1.11 <PrezzoTotale> non calcolato secondo le regole"))))
    original = b.compose(sender="sdi01@pec.fatturapa.it", to=["azienda@pec.test"],
                         subject=mail_subject("NS", 6782414), text="Notifica di scarto.\n",
                         attachments=[(name, ns, "application/xml")], date=WHEN)
    raw = b.transport_envelope(original, provider=pki.sdi, timestamp=WHEN)
    rendered = render_message(raw, fmt="pdf", trust=pki.trust)
    save_first_page(rendered.content, "message-sdi-scarto")
    text = pdf_text(rendered.content, tmp_path)
    for expected in ("Notifica di scarto", "6782414", "IT01234567897_00042.xml", "00305",
                     "<IdCodice> non valido", "Verificare la partita IVA", "00423",
                     "SdI, verificata"):
        assert expected.upper() in text.upper(), expected


def test_sdi_envelope_shows_the_invoice_it_carries(pki, tmp_path):  # noqa: F811
    xml = write_invoice(sample_invoice(lines=3))
    invoice_name = "IT01234567897_0A1B2.xml"
    original = b.compose(sender="sdi27@pec.fatturapa.it", to=["azienda@pec.test"],
                         subject=mail_subject("invoice", 7339338), text="Fattura.\n",
                         attachments=[(invoice_name, xml, "application/xml")], date=WHEN)
    raw = b.transport_envelope(original, provider=pki.sdi, timestamp=WHEN)
    text = pdf_text(render_message(raw, fmt="pdf", trust=pki.trust).content, tmp_path)
    assert "FATTURA TRASMESSA DA SDI" in text.upper() and invoice_name in text
    assert "N. 2026/1" in text and "Cliente Demo S.p.A." in text and "Totale documento" in text


def test_receipt_kind_in_words(pki, tmp_path):  # noqa: F811
    original = b.compose(sender="azienda@pec.test", to=["cliente@pec.test"], subject="Prova",
                         text="x", date=WHEN)
    raw = b.avvenuta_consegna(original, provider=pki.sha256, consegna="cliente@pec.test",
                              identificativo="opec.1@pec.test",
                              timestamp=WHEN)
    text = pdf_text(render_message(raw, fmt="pdf").content, tmp_path)
    assert "Ricevuta di avvenuta consegna" in text and "cliente@pec.test" in text


@pytest.mark.parametrize("raw", [b"", b"\x00\x01garbage", b"<?xml version='1.0'?><a/>"])
def test_unreadable_input_is_one_line(raw):
    with pytest.raises(NotRenderable) as caught:
        render_message(raw, fmt="html", name="x.eml")
    assert "\n" not in str(caught.value)
