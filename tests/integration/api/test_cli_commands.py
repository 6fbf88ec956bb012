"""The command-line faces of the application layer: `wpec token`, `wpec audit`,
`wpec events`, `wpec invoices sent`, `wpec alerts`, `wpec serve`'s refusal of a public
address without TLS."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import tomli_w

from tests.integration.api.test_api_cycle import INVOICE_DATA
from tests.integration.outbox.helpers import ADDRESS, COMPANY, SUPPLIER_ADDRESS


def wpec(config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args, "--config",
                           str(config)], capture_output=True, text=True, timeout=120, env=env)


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "wpec.toml"
    path.write_text(tomli_w.dumps({
        "data_dir": "data", "company": COMPANY,
        "accounts": [{"name": "main", "address": ADDRESS, "password_env": "WPEC_TEST_UNUSED",
                      "smtp": {"host": "127.0.0.1", "port": 1, "tls": "implicit"}}],
        "outbox": {"supplier": SUPPLIER_ADDRESS}}))
    return path


def test_tokens_audit_events_sent_and_alerts_from_the_command_line(tmp_path):
    config = write_config(tmp_path)
    created = wpec(config, "token", "create", "--name", "erp", "--role", "integrator",
                   "--json")
    assert created.returncode == 0, created.stderr
    secret = json.loads(created.stdout)["token"]
    assert secret.startswith("wpec_") and len(secret) >= 43
    listed = json.loads(wpec(config, "token", "list", "--json").stdout)
    assert [(t["name"], t["role"], t["revoked_at"]) for t in listed] == [
        ("erp", "integrator", None)]
    assert secret not in wpec(config, "token", "list").stdout  # never shown again
    assert wpec(config, "token", "create", "--name", "erp", "--role", "viewer").returncode == 1
    bad_role = wpec(config, "token", "create", "--name", "x", "--role", "root")
    assert bad_role.returncode == 2 and "role" in bad_role.stderr
    assert wpec(config, "token", "revoke", "erp").returncode == 0
    audit = json.loads(wpec(config, "audit", "--json").stdout)
    assert [a["action"] for a in audit] == ["token.revoke", "token.create"]

    data = tmp_path / "invoices.json"
    data.write_text(json.dumps(INVOICE_DATA))
    assert wpec(config, "invoice", "create", "--from", str(data)).returncode == 0
    sent = json.loads(wpec(config, "invoices", "sent", "--state", "queued", "--json").stdout)
    assert [s["file_name"] for s in sent] == ["IT01234567897_00001.xml"]
    assert json.loads(wpec(config, "invoices", "sent", "--state", "delivered",
                           "--json").stdout) == []
    human = wpec(config, "invoices", "sent")
    assert "IT01234567897_00001.xml" in human.stdout
    events = [json.loads(line) for line in
              wpec(config, "events", "--after", "0", "--json").stdout.splitlines()]
    assert [e["type"] for e in events] == ["sent_invoice.queued"]
    assert wpec(config, "events", "--after", str(events[-1]["id"])).stdout == ""
    assert wpec(config, "alerts").stdout.strip() == "no open alert"


def test_serve_refuses_a_public_address_without_tls(tmp_path):
    result = wpec(write_config(tmp_path), "serve", "--host", "0.0.0.0")  # noqa: S104 (refused)
    assert result.returncode == 2
    assert "without TLS" in result.stderr and "Traceback" not in result.stderr


def test_messages_show_prints_the_detail_and_the_exact_bytes(tmp_path):
    config = write_config(tmp_path)
    eml = (b"From: Ufficio <ufficio@example.it>\r\nTo: azienda@pec.sandbox.test\r\n"
           b"Subject: Richiesta documenti\r\nMessage-ID: <abc@example.it>\r\n"
           b"Date: Mon, 02 Mar 2026 10:00:00 +0100\r\n\r\nBuongiorno.\r\n")
    (tmp_path / "m.eml").write_bytes(eml)
    assert wpec(config, "import", str(tmp_path / "m.eml")).returncode in (0, 1)
    shown = wpec(config, "messages", "show", "1", "--json")
    assert shown.returncode == 0, shown.stderr
    detail = json.loads(shown.stdout)
    assert (detail["subject"], detail["message_id"]) == ("Richiesta documenti",
                                                          "<abc@example.it>")
    human = wpec(config, "messages", "show", "1")
    assert "Richiesta documenti" in human.stdout and "ufficio@example.it" in human.stdout
    raw = subprocess.run([sys.executable, "-m", "wpec_invoicing", "messages", "show", "1",
                          "--raw", "--config", str(config)], capture_output=True, timeout=120)
    assert raw.stdout == eml
    missing = wpec(config, "messages", "show", "2")
    assert missing.returncode == 2 and "no message with id 2" in missing.stderr


def test_browsing_received_invoices_and_messages_by_supplier_sender_and_date(tmp_path):
    from tests.integration.outbox.test_correlate import _company_party
    from wpec_invoicing.fatturapa import write_invoice
    from wpec_invoicing.fatturapa.samples import sample_invoice

    config = write_config(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "IT01234567890_00005.xml").write_bytes(write_invoice(sample_invoice(
        progressivo="00005", customer=_company_party())))
    for n, sender in enumerate(("comune@pec.example.it", "banca@example.com")):
        (tmp_path / "in" / f"m{n}.eml").write_bytes(
            f"From: {sender}\r\nTo: azienda@pec.sandbox.test\r\nSubject: Avviso {n}\r\n"
            f"Message-ID: <m{n}@example>\r\n\r\ntesto\r\n".encode())
    wpec(config, "import", str(tmp_path / "in"))

    def invoices(*args: str) -> list[dict]:
        return json.loads(wpec(config, "invoices", "list", "--json", *args).stdout)

    supplier = invoices()[0]["supplier_vat"]
    assert len(invoices("--supplier", supplier, "--since", "2026-01-01")) == 1
    assert invoices("--supplier", "IT99999999999") == []
    assert invoices("--until", "2025-12-31") == []

    def messages(*args: str) -> list[dict]:
        return json.loads(wpec(config, "messages", "list", "--status", "all", "--json",
                               *args).stdout)

    assert [m["subject"] for m in messages("--from", "comune")] == ["Avviso 0"]
    assert [m["subject"] for m in messages("--subject", "avviso 1")] == ["Avviso 1"]
    assert messages("--until", "2000-01-01") == []
    human = wpec(config, "messages", "list", "--status", "all", "--from", "banca")
    assert "banca@example.com" in human.stdout and "Avviso 1" in human.stdout


def test_serve_writes_the_access_log_in_order_and_all_of_it_at_the_end(tmp_path):
    """The access log is written by a thread of its own: every request's line is there, in
    order, once the server has stopped (SIGTERM), as uvicorn writes it."""
    import socket
    import time

    import httpx

    config = write_config(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    server = subprocess.Popen([sys.executable, "-m", "wpec_invoicing", "serve", "--port",
                               str(port), "--config", str(config)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}/api/v1"
        deadline = time.monotonic() + 60
        while True:
            try:
                assert httpx.get(f"{base}/health", timeout=10).status_code == 200
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline, "no server"
                time.sleep(0.1)
        paths = [f"/invoices/received?limit={n}" for n in range(1, 31)]
        for path in paths:  # no token: 401, each one logged
            assert httpx.get(base + path, timeout=10).status_code == 401
    finally:
        server.terminate()
        out, err = server.communicate(timeout=60)
    logged = [line for line in out.splitlines() if "/api/v1/invoices/received" in line]
    assert [line.split('"')[1] for line in logged] == [
        f"GET /api/v1{path} HTTP/1.1" for path in paths], (out[-2000:], err[-2000:])
    # uvicorn's own line: level, client address, request line, status and its phrase.
    assert all(re.fullmatch(r'INFO: +127\.0\.0\.1:\d+ - "GET [^"]+ HTTP/1\.1" 401 Unauthorized',
                            line) for line in logged), logged
