"""Exporters: JSON Lines, CSV, a webhook against a real local HTTP server; once per exporter."""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.ingest.conftest import make_config, open_store
from tests.integration.ingest.factory import SUPPLIER_VAT
from wpec_invoicing.exporters.base import run_exports
from wpec_invoicing.rules.passive import register_invoice
from wpec_invoicing.rules.suppliers import load_suppliers_text

SECRET = "webhook-shared-secret"


class Receiver:
    """A real HTTP server on 127.0.0.1 that fails the first `fail_first` POSTs with 503."""

    def __init__(self, fail_first: int = 0, status: int = 503) -> None:
        self.received: list[tuple[dict, bytes]] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.attempts <= fail_first:
                    self.send_response(status)
                    self.send_header("Retry-After", "0")
                    self.end_headers()
                    return
                receiver.received.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver(fail_first=2)
    yield r
    r.close()


def _setup(tmp_path: Path, db_url: str, factory, exporters: list[dict]):
    config = make_config(tmp_path, db_url=db_url, extra={"exporters": exporters})
    store = open_store(config)
    with store.session() as s:
        load_suppliers_text(s, f"vat,status\n{SUPPLIER_VAT},known\n")
        for n in range(3):
            register_invoice(s, config, store.archive, factory.invoice_xml(f"X-{n}", lines=2),
                             file_name=f"{SUPPLIER_VAT}_X000{n}.xml", source="import")
        # needs review (unknown supplier): not exported by the default statuses
        register_invoice(s, config, store.archive,
                         factory.invoice_xml("R-1").replace(SUPPLIER_VAT[2:].encode(),
                                                            b"07643520567"),
                         file_name="IT07643520567_R0001.xml", source="import")
    return config, store


def test_jsonl_and_csv_export_each_invoice_once(tmp_path: Path, db_url: str, factory,
                                                monkeypatch) -> None:
    config, store = _setup(tmp_path, db_url, factory, [
        {"name": "lines", "type": "jsonl"},
        {"name": "sheet", "type": "csv"},
    ])
    try:
        results = {r.exporter: r for r in run_exports(config, store)}
        assert results["lines"].exported == 3 and results["sheet"].exported == 3
        folder = config.data_dir / "export"
        rows = [json.loads(line) for line in
                (folder / "lines" / "invoices.jsonl").read_text().splitlines()]
        assert [r["number"] for r in rows] == ["X-0", "X-1", "X-2"]
        assert all((folder / "lines" / r["exported_file"]).is_file() for r in rows)
        with open(folder / "sheet" / "invoices.csv", newline="") as fh:
            invoices = list(csv.DictReader(fh, delimiter=";"))
        with open(folder / "sheet" / "lines.csv", newline="") as fh:
            lines = list(csv.DictReader(fh, delimiter=";"))
        assert len(invoices) == 3 and len(lines) == 6
        assert invoices[0]["total"] and invoices[0]["status"] == "verified"
        # Second run: nothing new. --again: everything once more.
        again = {r.exporter: r for r in run_exports(config, store)}
        assert again["lines"].exported == 0 and again["lines"].skipped == 3
        forced = run_exports(config, store, names=["lines"], again=True)
        assert forced[0].exported == 3
        assert len((folder / "lines" / "invoices.jsonl").read_text().splitlines()) == 6
    finally:
        store.close()


def test_webhook_signs_retries_and_books(tmp_path: Path, db_url: str, factory, receiver,
                                         monkeypatch) -> None:
    monkeypatch.setenv("WPEC_TEST_HOOK_SECRET", SECRET)
    config, store = _setup(tmp_path, db_url, factory, [
        {"name": "hook", "type": "webhook", "url": receiver.url,
         "secret_env": "WPEC_TEST_HOOK_SECRET", "backoff_seconds": 0.01, "max_attempts": 4},
    ])
    try:
        result = run_exports(config, store)[0]
        assert result.exported == 3 and result.failed == 0
        assert receiver.attempts == 5  # two 503s retried, then three deliveries
        for headers, body in receiver.received:
            expected = "sha256=" + hmac.new(
                SECRET.encode(), headers["X-Wpec-Timestamp"].encode() + b"." + body,
                hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["X-Wpec-Signature"], expected)
            payload = json.loads(body)
            assert base64.b64decode(payload["file_base64"]).startswith(b"<?xml")
        assert run_exports(config, store)[0].exported == 0  # booked: not sent again
    finally:
        store.close()


def test_webhook_permanent_failure_is_reported_and_retried_next_run(
        tmp_path: Path, factory) -> None:
    bad = Receiver(fail_first=10_000, status=400)
    config, store = _setup(tmp_path, None, factory, [
        {"name": "hook", "type": "webhook", "url": bad.url, "backoff_seconds": 0.01,
         "unsigned": True}])
    try:
        result = run_exports(config, store)[0]
        assert result.failed == 3 and bad.attempts == 3  # 400: no pointless retries
        assert "HTTP 400" in result.errors[0]
        bad.close()
        good = Receiver()
        cfg2 = config.model_copy(update={"exporters": [config.exporters[0].model_copy(
            update={"url": good.url})]})
        assert run_exports(cfg2, store)[0].exported == 3  # nothing was booked as done
        good.close()
    finally:
        store.close()


def test_export_cli_since_and_clear_errors(tmp_path: Path, factory) -> None:
    import os
    import subprocess
    import sys

    def wpec(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
        return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args], cwd=tmp_path,
                              env=env, capture_output=True, text=True, check=False)

    (tmp_path / "wpec.toml").write_text('data_dir = "d"\n')
    none = wpec("export")
    assert none.returncode == 2 and "no [[exporters]] configured" in none.stderr
    (tmp_path / "wpec.toml").write_text(
        'data_dir = "d"\n[[exporters]]\nname = "all"\ntype = "jsonl"\n'
        'statuses = ["verified", "needs-review", "refused"]\n')
    (tmp_path / f"{SUPPLIER_VAT}_E0001.xml").write_bytes(factory.invoice_xml("E-9"))
    assert wpec("import", f"{SUPPLIER_VAT}_E0001.xml").returncode == 0
    bad = wpec("export", "--since", "yesterday")
    assert bad.returncode == 2 and "not a date" in bad.stderr
    future = json.loads(wpec("export", "--since", "2999-01-01", "--json").stdout)
    assert future[0]["exported"] == 0
    now = json.loads(wpec("export", "--since", "2000-01-01", "--json").stdout)
    assert now[0]["exported"] == 1
    unknown = wpec("export", "--exporter", "nope")
    assert unknown.returncode == 2 and "no exporter named 'nope'" in unknown.stderr


def test_webhook_without_a_secret_is_refused_unless_unsigned_on_purpose(
        tmp_path: Path, factory, monkeypatch) -> None:
    from wpec_invoicing.errors import ConfigError

    good = Receiver()
    try:
        with pytest.raises(ConfigError, match="a webhook needs secret_env or secret_file"):
            make_config(tmp_path, extra={"exporters": [
                {"name": "hook", "type": "webhook", "url": good.url}]})
        # An empty secret must not silently switch signing off either.
        monkeypatch.setenv("WPEC_TEST_EMPTY_SECRET", "")
        config, store = _setup(tmp_path, None, factory, [
            {"name": "hook", "type": "webhook", "url": good.url,
             "secret_env": "WPEC_TEST_EMPTY_SECRET"}])
        try:
            with pytest.raises(ConfigError, match="webhook secret is empty"):
                run_exports(config, store)
            assert good.attempts == 0
            unsigned = config.model_copy(update={"exporters": [config.exporters[0].model_copy(
                update={"secret_env": None, "unsigned": True})]})
            assert run_exports(unsigned, store)[0].exported == 3
            assert all("X-Wpec-Signature" not in headers for headers, _b in good.received)
        finally:
            store.close()
    finally:
        good.close()
