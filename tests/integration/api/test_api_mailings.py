"""Mailings through the API: one message per recipient with its own files, progress per
recipient, a refused batch queues nothing, retry only when something failed."""

from __future__ import annotations

import base64

import pytest

MAILING = {
    "template": "Subject: Avviso per {nome}\n\nGentile {nome}, in allegato il documento.\n",
    "recipients": [{"pec": "rossi@pec.example.it", "nome": "Rossi", "attachments": "a.pdf"},
                   {"pec": "bianchi@pec.example.it", "nome": "Bianchi"}],
    "files": {"a.pdf": base64.b64encode(b"%PDF-1.4 demo").decode()},
}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_mailing_queues_one_message_per_recipient(company_api):
    with company_api.client("integrator") as c, company_api.client("operator") as op:
        created = c.post("/mailings", json=MAILING, headers={"Idempotency-Key": "m-1"})
        assert created.status_code == 201, created.text
        mailing = created.json()
        assert mailing["recipients"] == 2 and mailing["counts"] == {"queued": 2}
        assert [p["recipient"] for p in mailing["progress"]] == [
            "rossi@pec.example.it", "bianchi@pec.example.it"]
        again = c.post("/mailings", json=MAILING, headers={"Idempotency-Key": "m-1"})
        assert again.json()["id"] == mailing["id"]  # replayed, not a second mailing
        assert len(c.get("/mailings").json()["items"]) == 1
        bad = dict(MAILING, recipients=[{"pec": "x@pec.example.it", "attachments": "b.pdf"},
                                        {"pec": "not an address"}])
        refused = c.post("/mailings", json=bad)
        assert refused.status_code == 422
        assert len(refused.json()["errors"]) == 2
        assert len(c.get("/mailings").json()["items"]) == 1
        assert op.post(f"/mailings/{mailing['id']}/retry").status_code == 409
        events = c.get("/events", params={"type": "mailing."}).json()["items"]
        assert [e["type"] for e in events] == ["mailing.created"]
        queued = c.get("/events", params={"type": "mail.queued"}).json()["items"]
        assert {e["payload"]["mailing_id"] for e in queued} == {mailing["id"]}
