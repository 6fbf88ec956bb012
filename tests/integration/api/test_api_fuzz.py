"""Schemathesis against the live server: every operation of the OpenAPI contract, positive
and negative inputs, bounded in time. No 5xx; every response matches its declared schema and
content type.

Only the SSE stream (`events/stream`) is left to test_api_conventions: it is an endless
response by design, which a fuzzer cannot read to its end.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.integration.api.conftest import company_config, start
from tests.integration.api.test_api_cycle import INVOICE_DATA
from tests.integration.outbox.test_correlate import _company_party
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

MAX_SECONDS = 60
CONFIG = """
[[operations]]
include-name = "GET /api/v1/events"
parameters = { wait = 0 }
"""


def seed(live) -> None:
    """Something behind every id 1: an invoice received, one sent, a supplier."""
    xml = write_invoice(sample_invoice(progressivo="00101", customer=_company_party()))
    with live.client("admin") as c:
        assert c.post("/invoices/received/import", files={
            "files": ("IT01234567890_00101.xml", xml, "application/xml")}).status_code == 200
        assert c.post("/invoices/sent", json=INVOICE_DATA).status_code == 201
        assert c.post("/suppliers", json={"vat": "IT01234567890"}).status_code == 201


def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path: Path):
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a test dependency (pip install -e '.[test]')"
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    for live in start(company_config(tmp_path, f"sqlite:///{tmp_path / 'wpec.db'}")):
        seed(live)
        result = subprocess.run(
            [st, "--config-file", str(config), "run", f"{live.url}/api/v1/openapi.json",
             "-H", f"Authorization: Bearer {live.secrets['admin']}",
             "--checks", "not_a_server_error,response_schema_conformance,"
                         "content_type_conformance",
             "--exclude-path", "/api/v1/events/stream",
             "--phases", "examples,coverage,fuzzing", "--max-examples", "20",
             "--max-time", str(MAX_SECONDS), "--seed", "12", "--workers", "1",
             "--request-timeout", "30", "--generation-database", "none",
             "--generation-with-security-parameters", "false", "--no-color"],
            capture_output=True, text=True, timeout=MAX_SECONDS * 3, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
