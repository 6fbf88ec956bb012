"""The readable copies in the console: "Stampa / PDF" on the received invoice, sent invoice
and message pages, and the toggle between our view and the tax agency's (style=ade) shown
as HTML in a sandboxed frame. Viewer role; unknown ids are 404."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.unit.console.conftest import HOSTILE_SUBJECT, PASSWORD, login
from wpec_invoicing.app import received, users
from wpec_invoicing.app.messages import list_messages


def _received_id(ctx) -> int:
    return received.list_received(ctx).items[0].id


def test_received_invoice_page_offers_the_pdf_and_both_views(client, ctx):
    inv = _received_id(ctx)
    assert client.get(f"/fatture-ricevute/{inv}/pdf", follow_redirects=False
                      ).status_code in (302, 303)  # no session: to the login page
    login(client, "vera")
    page = client.get(f"/fatture-ricevute/{inv}")
    assert "Stampa / PDF" in page.text and "Vista dell&#39;Agenzia delle Entrate" in page.text
    assert f'href="/fatture-ricevute/{inv}/pdf?style=wpec"' in page.text
    assert f'src="/fatture-ricevute/{inv}/vista?style=wpec"' in page.text
    assert 'sandbox=""' in page.text
    ade_page = client.get(f"/fatture-ricevute/{inv}", params={"style": "ade"})
    assert f'src="/fatture-ricevute/{inv}/vista?style=ade"' in ade_page.text
    assert f'href="/fatture-ricevute/{inv}/pdf?style=ade"' in ade_page.text

    pdf = client.get(f"/fatture-ricevute/{inv}/pdf")
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    assert "attachment" in pdf.headers["content-disposition"]
    assert client.get(f"/fatture-ricevute/{inv}/pdf", params={"style": "ade"}
                      ).content.startswith(b"%PDF")

    ours = client.get(f"/fatture-ricevute/{inv}/vista")
    ade = client.get(f"/fatture-ricevute/{inv}/vista", params={"style": "ade"})
    for frame in (ours, ade):
        assert frame.status_code == 200
        assert frame.headers["content-type"].startswith("text/html")
        csp = frame.headers["content-security-policy"]
        assert "sandbox" in csp and "default-src 'none'" in csp
        assert "00042" in frame.text
    assert ours.text != ade.text
    assert client.get("/fatture-ricevute/99999/pdf").status_code == 404
    assert client.get("/fatture-ricevute/99999/vista").status_code == 404


def test_message_page_offers_its_pdf(client, ctx):
    msg = next(m for m in list_messages(ctx).items if m.subject == HOSTILE_SUBJECT)
    login(client, "vera")
    page = client.get(f"/posta/{msg.id}")
    assert f'href="/posta/{msg.id}/pdf"' in page.text and "Stampa / PDF" in page.text
    pdf = client.get(f"/posta/{msg.id}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get("/posta/99999/pdf").status_code == 404


@pytest.fixture
def company_client(tmp_path: Path):
    """A company that sends: one invoice queued (never sent: nothing is reached)."""
    from tests.integration.outbox.helpers import ADDRESS, COMPANY, SUPPLIER_ADDRESS
    from wpec_invoicing.app import sent
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.config import config_from_dict
    from wpec_invoicing.web.console import create_console_app

    config = config_from_dict({
        "data_dir": "data", "company": COMPANY, "outbox": {"supplier": SUPPLIER_ADDRESS},
        "accounts": [{"name": "main", "address": ADDRESS, "password_env": "WPEC_TEST_UNUSED",
                      "smtp": {"host": "127.0.0.1", "port": 1, "tls": "implicit"}}]},
        base=tmp_path)
    with AppContext(config) as ctx:
        users.add_user(ctx, "vera", role="viewer", password=PASSWORD)
        data = [{"customer": {"name": "Cliente Demo S.p.A.", "vat": "IT12345678903",
                              "street": "Corso Italia", "postal_code": "20122",
                              "city": "Milano"},
                 "lines": [{"description": "Consulenza", "quantity": "2",
                            "unit_price": "150.00"}]}]
        [item] = sent.submit_data(ctx, json.dumps(data)).items
        yield TestClient(create_console_app(ctx)), item.id


def test_sent_invoice_page_offers_the_pdf_and_both_views(company_client):
    client, item = company_client
    login(client, "vera")
    page = client.get(f"/fatture-emesse/{item}")
    assert "Stampa / PDF" in page.text
    assert f'src="/fatture-emesse/{item}/vista?style=wpec"' in page.text
    pdf = client.get(f"/fatture-emesse/{item}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    ade = client.get(f"/fatture-emesse/{item}/vista", params={"style": "ade"})
    assert ade.status_code == 200 and "sandbox" in ade.headers["content-security-policy"]
    assert "Consulenza" in ade.text
    assert client.get("/fatture-emesse/99999/pdf").status_code == 404
