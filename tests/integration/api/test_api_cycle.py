"""The passive and the active cycle driven only through the HTTP API, against the sandbox,
on SQLite and PostgreSQL: upload, list, approve; submit an invoice as data, follow its events
until SdI's answer, read its timeline and the raw notification.

The sending and the mailbox sync are the worker's job, not the API's: a background thread
plays the worker (`outbox.run` + `Mailbox.sync`, as `wpec outbox run` / `wpec sync` do).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from tests.integration.api.conftest import start
from tests.integration.outbox.helpers import SUPPLIER_ADDRESS
from tests.integration.outbox.test_correlate import _company_party
from wpec_invoicing.config import load_config
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

INVOICE_DATA = [{
    "customer": {"name": "Cliente Demo S.p.A.", "vat": "IT12345678903",
                 "street": "Corso Italia", "postal_code": "20122", "city": "Milano"},
    "lines": [{"description": "Consulenza", "quantity": "2", "unit_price": "150.00"}],
}]


def configure(sb, tmp_path: Path, db_url: str) -> Path:
    path = sb.write_config(tmp_path / "wpec.toml")
    supplier = "\n".join(f'{k} = "{v}"' for k, v in SUPPLIER_ADDRESS.items())
    path.write_text(f'store_url = "{db_url}"\n' + path.read_text()
                    + "\n[outbox]\nverify_after_seconds = 1\nretry_base_seconds = 0.2\n"
                    f"idle_poll_seconds = 0.2\n\n[outbox.supplier]\n{supplier}\n")
    return path


class Worker(threading.Thread):
    """Sends what is queued and syncs the box, over and over (what the worker does)."""

    def __init__(self, ctx) -> None:
        super().__init__(daemon=True)
        self.ctx, self.stop = ctx, threading.Event()

    def run(self) -> None:
        from wpec_invoicing.mailbox.sync import Mailbox
        from wpec_invoicing.outbox.queue import Outbox

        outbox = Outbox(self.ctx.config, store=self.ctx.store)
        while not self.stop.is_set():
            outbox.run()
            Mailbox(self.ctx.config, self.ctx.config.account(), self.ctx.store).sync()
            self.stop.wait(0.3)


def test_passive_and_active_cycle_through_the_api(sandbox, tmp_path, db_url):
    config = load_config(configure(sandbox, tmp_path, db_url))
    for live in start(config):
        with live.client("integrator") as api, live.client("operator") as op:
            # -- passive: upload, list, approve --------------------------------------------
            doc = sample_invoice(progressivo="00077", customer=_company_party())
            xml = write_invoice(doc)
            files = {"files": ("IT01234567890_00077.xml", xml, "application/xml")}
            upload = api.post("/invoices/received/import", files=files,
                              headers={"Idempotency-Key": "upload-1"})
            assert upload.status_code == 200, upload.text
            assert upload.json()["imported"] == 1
            again = api.post("/invoices/received/import", files=files,
                             headers={"Idempotency-Key": "upload-1"})
            assert again.headers.get("idempotent-replayed") == "true"
            listed = api.get("/invoices/received", params={"status": "needs-review"}).json()
            [inv] = listed["items"]
            assert isinstance(inv["total"], str) and "." in inv["total"]
            detail = api.get(f"/invoices/received/{inv['id']}")
            assert [r["code"] for r in detail.json()["reasons"]] == ["supplier-unknown"]
            original = api.get(f"/invoices/received/{inv['id']}/original")
            assert original.content == xml
            assert api.post(f"/invoices/received/{inv['id']}/approve",
                            json={"reason": "known"}).status_code == 403  # integrator
            approved = op.post(f"/invoices/received/{inv['id']}/approve",
                               json={"reason": "new supplier, checked by phone"})
            assert approved.status_code == 200, approved.text
            assert approved.json()["status"] == "verified"
            types = [e["type"] for e in api.get("/events", params={"type": "invoice."})
                     .json()["items"]]
            assert types == ["invoice.received", "invoice.needs-review", "invoice.approved"]
            after = api.get("/events").json()["last_id"]

            # -- active: submit data, follow events until SdI answers ---------------------
            submitted = api.post("/invoices/sent", json=INVOICE_DATA,
                                 headers={"Idempotency-Key": "inv-1"})
            assert submitted.status_code == 201, submitted.text
            [queued] = submitted.json()["items"]
            worker = Worker(live.ctx)
            worker.start()
            try:
                seen: list[str] = []
                deadline = time.monotonic() + 90
                while not {"sent_invoice.RC", "sent_invoice.NS"} & set(seen):
                    assert time.monotonic() < deadline, f"no SdI outcome; events: {seen}"
                    page = api.get("/events", params={"after": after, "wait": 5,
                                                      "type": "sent_invoice."}).json()
                    seen += [e["type"] for e in page["items"]
                             if e["subject_id"] == str(queued["id"])]
                    after = page["last_id"]
            finally:
                worker.stop.set()
                worker.join(timeout=30)
            assert seen[0] == "sent_invoice.queued" and "sent_invoice.sent" in seen
            assert "sent_invoice.RC" in seen
            sent = api.get(f"/invoices/sent/{queued['id']}").json()
            assert sent["sdi_state"] == "delivered"
            rc = next(e for e in sent["timeline"] if e["event"] == "RC")
            raw = api.get(f"/messages/{rc['message_id']}/raw")
            assert raw.status_code == 200 and b"RC" in raw.content
            states = api.get("/invoices/sent", params={"state": "delivered"}).json()["items"]
            assert [s["id"] for s in states] == [queued["id"]]
