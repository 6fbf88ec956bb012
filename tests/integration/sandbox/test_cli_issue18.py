"""Issue 18's cases that need a running sandbox: an injection the recipient's box refused is a
failure (it exited 0 with "delivered by SdI"), and the configuration `sandbox up` writes is
enough for `wpec invoice create` (it lacked [outbox.supplier]: "missing street")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.conftest import _seed_ca
from tests.integration.sandbox.test_cli_controls import _Up
from wpec_invoicing.resources import data_dir
from wpec_invoicing.sandbox.ca import SandboxCA

WPEC = [sys.executable, "-m", "wpec_invoicing"]
CLIENTE = "cliente@pec.sandbox.test"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WPEC, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False)


def test_inject_invoice_into_a_box_over_quota_fails_and_says_so(tmp_path: Path,
                                                               sandbox_ca: SandboxCA) -> None:
    _seed_ca(tmp_path / "sb", sandbox_ca)
    up = _Up(tmp_path, "--quota", f"{CLIENTE}=100", "--write-config", "wpec.toml")
    try:
        invoice = data_dir() / "demo" / "IT01234567897_00001.xml"
        refused = _run("sandbox", "inject-invoice", str(invoice), "--to", CLIENTE, "--dir", "sb",
                       "--json", cwd=tmp_path)
        assert refused.returncode == 1, (refused.stdout, refused.stderr)
        result = json.loads(refused.stdout)
        assert result["delivered"] is False and result["sdi_outcome"] == "MC"
        assert refused.stderr.startswith("wpec: error: IT01234567897_00001.xml NOT delivered")
        assert up.inbox(CLIENTE) == []  # nothing arrived, as the exit code says
        fine = _run("sandbox", "inject-invoice", str(invoice), "--dir", "sb", cwd=tmp_path)
        assert fine.returncode == 0, fine.stderr
        assert "delivered by SdI to azienda@pec.sandbox.test" in fine.stdout  # a report
        # the configuration it wrote is enough to create (and queue) an invoice
        (tmp_path / "fatture.json").write_text(json.dumps([{
            "customer": {"name": "Cliente S.p.A.", "vat": "IT12345678903", "street": "Corso "
                         "Italia", "number": "10", "postal_code": "20122", "city": "Milano",
                         "province": "MI", "codice_destinatario": "0000000", "pec": CLIENTE},
            "lines": [{"description": "Consulenza", "quantity": "2", "unit_price": "100.00",
                       "vat_rate": "22"}]}]))
        created = _run("invoice", "create", "--from", "fatture.json", "--json", cwd=tmp_path)
        assert created.returncode == 0, (created.stdout, created.stderr)
        assert "queued" in json.loads(created.stdout.splitlines()[0])
    finally:
        up.stop()
