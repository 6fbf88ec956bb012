"""The webhook exporter fed by the event stream: every matching event, in id order, signed,
exactly once; a receiver that fails stops the delivery there, and a later run goes on from
that event (nothing skipped, nothing twice)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

from wpec_invoicing.app import mailbox
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.config import config_from_dict
from wpec_invoicing.store.events import record_event


class Receiver(BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[dict, dict]]] = []
    fail_on: ClassVar[set[int]] = set()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        event = json.loads(body)
        if event["id"] in self.fail_on:
            self.send_response(400)
            self.end_headers()
            return
        expected = "sha256=" + hmac.new(b"s3cret", self.headers["X-Wpec-Timestamp"].encode()
                                        + b"." + body, hashlib.sha256).hexdigest()
        assert self.headers["X-Wpec-Signature"] == expected
        Receiver.posts.append((event, dict(self.headers)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_event_webhook_delivers_in_order_and_resumes_after_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("WPEC_TEST_HOOK_SECRET", "s3cret")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    config = config_from_dict({
        "data_dir": str(tmp_path / "data"),
        "exporters": [{"name": "erp", "type": "webhook", "backoff_seconds": 0,
                       "max_attempts": 1,
                       "url": f"http://127.0.0.1:{server.server_port}/hook",
                       "secret_env": "WPEC_TEST_HOOK_SECRET",
                       "options": {"events": ["invoice.", "sent_invoice.NS"]}}]},
        base=tmp_path)
    try:
        with AppContext(config) as ctx:
            with ctx.session() as s:
                for n, type_ in enumerate(["invoice.received", "alert.raised",
                                           "sent_invoice.RC", "sent_invoice.NS",
                                           "invoice.verified", "invoice.exported"], 1):
                    record_event(s, type_, "x", n, {"n": n})
            Receiver.fail_on = {5}
            [first] = [r for r in mailbox.run_exports(ctx) if r.exporter == "erp"]
            assert (first.exported, first.failed) == (2, 1)
            assert [e["id"] for e, _ in Receiver.posts] == [1, 4]
            Receiver.fail_on = set()
            [second] = mailbox.run_exports(ctx)
            assert (second.exported, second.failed) == (2, 0)
            assert [e["type"] for e, _ in Receiver.posts] == [
                "invoice.received", "sent_invoice.NS", "invoice.verified", "invoice.exported"]
            assert Receiver.posts[0][1]["X-Wpec-Delivery"] == "erp-event-1"
            assert mailbox.run_exports(ctx)[0].exported == 0  # nothing twice
    finally:
        server.shutdown()
