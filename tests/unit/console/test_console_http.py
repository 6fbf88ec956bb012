"""Security and behaviour of the console over HTTP: sessions, CSRF, roles, headers, search."""

import pytest
from fastapi.testclient import TestClient

from tests.unit.console.conftest import HOSTILE_SUBJECT, csrf_of, login
from wpec_invoicing.app import console
from wpec_invoicing.web.console import create_console_app


def _invoice_id(ctx) -> int:
    return console.search_received(ctx).page.items[0].id


def test_pages_need_a_session_and_come_back_after_login(client):
    response = client.get("/fatture-ricevute?status=needs-review", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    assert login(client, "vera").status_code == 303
    assert client.get("/fatture-ricevute").status_code == 200


def test_login_refuses_a_wrong_password_and_an_open_redirect(client):
    refused = login(client, "vera", "wrong password here")
    assert refused.status_code == 401 and "Nome utente o password errati" in refused.text
    import re

    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post("/login", data={"name": "vera", "password": "console test password",
                                           "csrf_token": token, "next": "//evil.test/x"},
                           follow_redirects=False)
    assert response.headers["location"] == "/"


def test_login_form_without_its_csrf_token_is_refused(client):
    client.get("/login")
    response = client.post("/login", data={"name": "vera", "password": "console test password"})
    assert response.status_code == 403


def test_session_cookie_flags_over_http_and_https(ctx):
    plain = login(TestClient(create_console_app(ctx)), "vera")
    cookie = plain.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
    tls = login(TestClient(create_console_app(ctx), base_url="https://testserver"), "vera")
    session_cookie = next(c for c in tls.headers.get_list("set-cookie")
                          if c.startswith("wpec_session="))
    assert "; secure" in session_cookie.lower() and "httponly" in session_cookie.lower()


def test_a_form_post_without_the_csrf_token_is_forbidden(client, ctx):
    login(client, "otto")
    invoice = _invoice_id(ctx)
    url = f"/fatture-ricevute/{invoice}/decisione"
    assert client.post(url, data={"decision": "approved"}).status_code == 403
    assert client.post(url, data={"decision": "approved", "csrf_token": "forged"}
                       ).status_code == 403
    assert client.post(url, headers={"X-CSRF-Token": "forged"},
                       data={"decision": "approved"}).status_code == 403
    assert console.search_received(ctx).page.items[0].status == "needs-review"
    # The htmx way (header) and the plain form way (field) both work with the real token.
    ok = client.post(url, headers={"X-CSRF-Token": csrf_of(client)},
                     data={"decision": "approved"}, follow_redirects=False)
    assert ok.status_code == 303
    assert console.search_received(ctx).page.items[0].status == "verified"


def test_a_viewer_cannot_approve_and_sees_no_button(client, ctx):
    login(client, "vera")
    invoice = _invoice_id(ctx)
    page = client.get(f"/fatture-ricevute/{invoice}")
    assert page.status_code == 200 and "Approva" not in page.text
    response = client.post(f"/fatture-ricevute/{invoice}/decisione",
                           data={"decision": "approved", "csrf_token": csrf_of(client)})
    assert response.status_code == 403
    assert console.search_received(ctx).page.items[0].status == "needs-review"


def test_refusing_needs_a_reason_and_is_audited(client, ctx):
    from wpec_invoicing.app.audit import list_audit

    login(client, "otto")
    invoice = _invoice_id(ctx)
    url = f"/fatture-ricevute/{invoice}/decisione"
    missing = client.post(url, data={"decision": "refused", "csrf_token": csrf_of(client)})
    assert missing.status_code == 422 and "reason" in missing.text
    client.post(url, data={"decision": "refused", "reason": "importo errato",
                           "csrf_token": csrf_of(client)})
    assert console.search_received(ctx).page.items[0].status == "refused"
    actions = [(e.actor, e.action) for e in list_audit(ctx).items]
    assert ("console:otto", "invoice.refused") in actions


def test_security_headers_and_a_sandboxed_sanitised_html_body(client, ctx):
    from wpec_invoicing.app.messages import list_messages

    login(client, "vera")
    hostile = next(m for m in list_messages(ctx).items if m.subject == HOSTILE_SUBJECT)
    page = client.get(f"/posta/{hostile.id}")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>window" not in page.text and "&lt;script&gt;" in page.text
    assert 'sandbox=""' in page.text
    # Every header line, in a table of their own, inert as the rest.
    assert ('<th scope="row">Message-ID</th><td>&lt;hostile-1@example.test&gt;</td>'
            in page.text)
    assert '<th scope="row">Subject</th><td>&lt;script&gt;' in page.text
    frame = client.get(f"/posta/{hostile.id}/html")
    assert "sandbox" in frame.headers["content-security-policy"]
    assert "script" not in frame.text and "onerror" not in frame.text
    assert "<b>allegata</b>" in frame.text


@pytest.mark.parametrize("query,found", [("73,81", 0), ("1.234,56", 0), ("", 1)])
def test_search_by_amount_typed_the_italian_way(client, ctx, query, found):
    total = console.search_received(ctx).page.items[0].total
    login(client, "vera")
    typed = query or f"{total:,.2f}".replace(",", "X").replace(".", ",").replace("X", ".")
    page = client.get("/fatture-ricevute", params={"q": typed})
    listed = page.text.count('name="ids"') + page.text.count('href="/fatture-ricevute/')
    assert (listed > 0) == bool(found), typed


def test_language_is_chosen_per_user(client):
    login(client, "ada")
    assert "Fatture ricevute" in client.get("/").text
    client.post("/language", data={"language": "en", "back": "/",
                                   "csrf_token": csrf_of(client)})
    assert "Received invoices" in client.get("/").text
    assert '<html lang="en">' in client.get("/").text


def test_logout_ends_the_session(client):
    login(client, "vera")
    client.post("/logout", data={"csrf_token": csrf_of(client)})
    assert client.get("/", follow_redirects=False).status_code == 303


def test_static_assets_are_served_from_the_package(client):
    assert "htmx" in client.get("/static/vendor/htmx-2.0.11.min.js").text[:200]
    assert client.get("/static/vendor/pico-2.1.1.min.css").status_code == 200


def test_bulk_decisions_go_on_past_an_invoice_that_cannot_take_them(client, ctx):
    login(client, "otto")
    invoice = _invoice_id(ctx)
    empty = client.post("/fatture-ricevute/decisioni",
                        data={"decision": "approved", "csrf_token": csrf_of(client)})
    assert empty.status_code == 422 and "Seleziona almeno una fattura" in empty.text
    page = client.post("/fatture-ricevute/decisioni", data={
        "decision": "approved", "ids": [str(invoice), "999999"],
        "csrf_token": csrf_of(client)})
    assert page.status_code == 200
    assert "verificata" in page.text and "no received invoice with id 999999" in page.text
    assert console.search_received(ctx).page.items[0].status == "verified"


def test_a_blob_missing_from_the_archive_is_said_not_a_crash(client, ctx):
    """An archive that lost a file (disk trouble, a bad restore) still shows what the store
    knows, and says what is missing and what to run."""
    from sqlalchemy import select

    from wpec_invoicing.store.models import Message, ReceivedInvoice

    with ctx.session() as s:
        invoice_id, invoice_sha = s.execute(select(ReceivedInvoice.id,
                                                   ReceivedInvoice.file_sha256)).first()
        message_id, message_sha = s.execute(select(Message.id, Message.sha256)).first()
    for sha in {invoice_sha, message_sha}:
        ctx.store.archive.path(sha).unlink()
    login(client, "vera")
    page = client.get(f"/fatture-ricevute/{invoice_id}")
    assert page.status_code == 200 and "manca dall&#39;archivio" in page.text
    page = client.get(f"/posta/{message_id}")
    assert page.status_code == 200 and "manca dall&#39;archivio" in page.text
