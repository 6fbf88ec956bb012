"""Readable copies over HTTP: `GET .../{id}/pdf` for a received invoice, a sent invoice and an
archived message; PDF by default, `?format=html`, `?style=ade` for the agency's view; 404
problem documents for ids that name nothing."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration.api.conftest import company_config, start
from tests.integration.api.test_api_cycle import INVOICE_DATA
from tests.integration.outbox.test_correlate import _company_party
from tests.unit.render.conftest import pdf_text
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice


def _eml() -> bytes:
    msg = EmailMessage()
    msg["From"] = "fornitore@example.test"
    msg["To"] = "azienda@pec.sandbox.test"
    msg["Subject"] = "Comunicazione 4711"
    msg["Message-ID"] = "<render-1@example.test>"
    msg.set_content("Buongiorno, riferimento pratica 4711.")
    return msg.as_bytes()


@pytest.fixture
def live(tmp_path: Path):
    yield from start(company_config(tmp_path, f"sqlite:///{tmp_path / 'wpec.db'}"))


def test_received_sent_and_message_copies(live, tmp_path):
    xml = write_invoice(sample_invoice(progressivo="00777", customer=_company_party()))
    with live.client("integrator") as api, live.client("viewer") as viewer:
        assert api.post("/invoices/received/import", files=[
            ("files", ("IT01234567890_00777.xml", xml, "application/xml")),
            ("files", ("nota.eml", _eml(), "message/rfc822"))]).status_code == 200
        [inv] = viewer.get("/invoices/received").json()["items"]

        got = viewer.get(f"/invoices/received/{inv['id']}/pdf")
        assert got.status_code == 200, got.text
        assert got.headers["content-type"] == "application/pdf"
        assert got.content.startswith(b"%PDF")
        assert "00777" in pdf_text(got.content, tmp_path)
        assert ".pdf" in got.headers["content-disposition"]

        html = viewer.get(f"/invoices/received/{inv['id']}/pdf", params={"format": "html"})
        assert html.headers["content-type"].startswith("text/html")
        assert "00777" in html.text
        ade = viewer.get(f"/invoices/received/{inv['id']}/pdf",
                         params={"format": "html", "style": "ade"})
        assert ade.status_code == 200, ade.text
        assert "00777" in ade.text and ade.text != html.text
        ade_pdf = viewer.get(f"/invoices/received/{inv['id']}/pdf", params={"style": "ade"})
        assert ade_pdf.content.startswith(b"%PDF")

        submitted = api.post("/invoices/sent", json=INVOICE_DATA)
        assert submitted.status_code == 201, submitted.text
        [queued] = submitted.json()["items"]
        sent = viewer.get(f"/invoices/sent/{queued['id']}/pdf")
        assert sent.status_code == 200, sent.text
        assert sent.content.startswith(b"%PDF")
        number = viewer.get(f"/invoices/sent/{queued['id']}").json()["invoice_number"]
        assert number and number in pdf_text(sent.content, tmp_path)
        assert viewer.get(f"/invoices/sent/{queued['id']}/pdf",
                          params={"format": "html", "style": "ade"}).status_code == 200

        [msg] = [m for m in viewer.get("/messages").json()["items"]
                 if "4711" in (m.get("subject") or "")]
        mail = viewer.get(f"/messages/{msg['id']}/pdf")
        assert mail.status_code == 200, mail.text
        assert mail.content.startswith(b"%PDF")
        assert "4711" in pdf_text(mail.content, tmp_path)
        assert "4711" in viewer.get(f"/messages/{msg['id']}/pdf",
                                    params={"format": "html"}).text


@pytest.mark.parametrize("path", ["/invoices/received/999/pdf", "/invoices/sent/999/pdf",
                                  "/messages/999/pdf"])
def test_unknown_ids_are_404_problems(live, path):
    with live.client("viewer") as viewer:
        got = viewer.get(path)
        assert got.status_code == 404
        assert got.headers["content-type"] == "application/problem+json"
        assert got.json()["type"] == "urn:wpec:problem:not-found"
        assert viewer.get(path, params={"format": "docx"}).status_code == 422
    with live.client(None) as anonymous:
        assert anonymous.get(path).status_code == 401
