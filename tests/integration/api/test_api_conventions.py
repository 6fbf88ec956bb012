"""The API's conventions as a client meets them: Idempotency-Key (also two identical POSTs at
once → one invoice), problem+json, 413, ETag, cursor pages with a `next` link, long poll and
Server-Sent Events. On SQLite and PostgreSQL where the store matters."""

from __future__ import annotations

import json
import threading

import httpx
import pytest

from tests.integration.api.test_api_cycle import INVOICE_DATA


def test_the_same_post_twice_at_once_queues_one_invoice(company_api):
    results: list[httpx.Response] = []

    def post() -> None:
        with company_api.client("integrator") as c:
            results.append(c.post("/invoices/sent", json=INVOICE_DATA,
                                  headers={"Idempotency-Key": "order-4711"}))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [201] * 4
    assert len({r.text for r in results}) == 1  # the same response, replayed
    with company_api.client("viewer") as c:
        assert len(c.get("/invoices/sent").json()["items"]) == 1
        other = company_api.client("integrator").post(
            "/invoices/sent", json=INVOICE_DATA * 2, headers={"Idempotency-Key": "order-4711"})
        assert other.status_code == 409
        assert other.json()["type"] == "urn:wpec:problem:conflict"
        # Without a key, the same body is a new request: a second invoice.
        again = company_api.client("integrator").post("/invoices/sent", json=INVOICE_DATA)
        assert again.status_code == 201
        assert len(c.get("/invoices/sent").json()["items"]) == 2


def test_an_invalid_invoice_is_422_with_the_validate_diagnostics(company_api):
    from wpec_invoicing.fatturapa import write_invoice
    from wpec_invoicing.fatturapa.samples import sample_invoice

    xml = write_invoice(sample_invoice(progressivo="00009")).replace(
        b"<Numero>", b"<Numero></Numero><X>", 1)
    with company_api.client("integrator") as c:
        got = c.post("/invoices/sent", content=xml,
                     params={"file_name": "IT01234567890_00009.xml"},
                     headers={"Content-Type": "application/xml"})
        assert got.status_code == 422, got.text
        problem = got.json()
        assert got.headers["content-type"] == "application/problem+json"
        assert problem["type"] == "urn:wpec:problem:rejected"
        [refusal] = problem["errors"]
        assert refusal["report"]["valid"] is False  # `invoice validate --json`'s report
        assert c.get("/invoices/sent").json()["items"] == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_errors_limits_etags_and_pages(company_api):
    with company_api.client("operator") as c:
        missing = c.get("/invoices/received/999")
        assert missing.status_code == 404
        assert missing.json() == {"type": "urn:wpec:problem:not-found", "title": "Not found",
                                  "status": 404, "detail": "no received invoice with id 999",
                                  "instance": "/api/v1/invoices/received/999"}
        big = c.post("/suppliers", content=b"x" * (31 * 1024 * 1024),
                     headers={"Content-Type": "application/json"})
        assert big.status_code == 413
        assert c.get("/suppliers", params={"cursor": "not-a-cursor"}).status_code == 422
        assert c.get("/suppliers", params={"limit": 501}).status_code == 422
        for n in range(5):
            assert c.post("/suppliers", json={"vat": f"IT0000000000{n}",
                                              "name": f"S{n}"}).status_code == 201
        names, url = [], "/suppliers?limit=2"
        while url:
            page = c.get(url).json()
            names += [s["name"] for s in page["items"]]
            url = page["next"]
        assert names == ["S0", "S1", "S2", "S3", "S4"]
        first = c.get("/suppliers/1")
        assert c.get("/suppliers/1", headers={"If-None-Match": first.headers["etag"]}
                     ).status_code == 304
        c.put("/suppliers/1", json={"vat": "IT00000000000", "status": "blocked"})
        changed = c.get("/suppliers/1", headers={"If-None-Match": first.headers["etag"]})
        assert changed.status_code == 200 and changed.json()["blocked"] is True


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_long_poll_and_server_sent_events(company_api):
    with company_api.client("viewer") as c, company_api.client("operator") as op:
        start_id = c.get("/events").json()["last_id"]
        timer = threading.Timer(0.5, lambda: op.post("/suppliers", json={"vat": "IT0000000001"}))
        timer.start()
        # Supplier changes are not integrator events; a submitted invoice is.
        integrator = company_api.client("integrator")
        threading.Timer(0.7, lambda: integrator.post("/invoices/sent", json=INVOICE_DATA)).start()
        page = c.get("/events", params={"after": start_id, "wait": 20}).json()
        assert [e["type"] for e in page["items"]] == ["sent_invoice.queued"]
        timer.join()
        with c.stream("GET", "/events/stream", params={"after": start_id}) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = []
            for line in stream.iter_lines():
                lines.append(line)
                if line.startswith("data: "):
                    break
        event = json.loads(lines[-1][len("data: "):])
        assert event["type"] == "sent_invoice.queued"
        assert f"id: {event['id']}" in lines and "event: sent_invoice.queued" in lines
