"""End to end through the CLI against the sandbox (embedded IMAP): SdI delivers supplier
invoices, `wpec sync` archives, verifies, files them away on the server and exports them."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.ingest.factory import Factory
from wpec_invoicing.fatturapa.samples import CUSTOMER, SUPPLIER

# The sandbox company is the samples' SUPPLIER; so here the samples' CUSTOMER sells to it.
SELLER = dataclasses.replace(CUSTOMER, regime_fiscale="RF01")
SELLER_VAT = f"{SELLER.vat.country}{SELLER.vat.code}"

RULES = """
[rules.kinds.sdi-invoice]
save = ["attachments"]
export = true
move_to = "Fatture"

[rules.kinds.posta-certificata]
save = ["header", "body"]

[[exporters]]
name = "accounting"
type = "jsonl"
"""


def wpec(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, check=False, timeout=120)


def test_sync_verify_move_and_export_through_the_cli(sandbox, tmp_path: Path) -> None:
    work = tmp_path / "work"
    config = sandbox.write_config(work / "wpec.toml")
    config.write_text(config.read_text() + RULES)
    factory = Factory()
    for number in ("S-1", "S-2"):
        xml = factory.invoice_xml(number, supplier=SELLER, customer=SUPPLIER)
        sandbox.inject_invoice(xml, f"{SELLER_VAT}_{number.replace('-', '')}.xml")
    (work / "suppliers.csv").write_text(f"vat,name,status\n{SELLER_VAT},Cliente Demo,known\n")
    loaded = wpec(work, "invoices", "load-suppliers", "suppliers.csv", "--json")
    assert loaded.returncode == 0, loaded.stderr
    assert json.loads(loaded.stdout)["added"] == 1

    first = wpec(work, "sync", "--json")
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout)[0]
    assert result["archived"] == 2 and result["errors"] == 0
    assert result["server_actions"] == 2 and result["exported"] == 2

    listed = json.loads(wpec(work, "invoices", "list", "--status", "verified", "--json").stdout)
    assert sorted(i["number"] for i in listed) == ["S-1", "S-2"]
    assert all(i["identificativo_sdi"] for i in listed)
    exported = (work / "wpec-data" / "export" / "accounting" / "invoices.jsonl").read_text()
    assert len(exported.splitlines()) == 2
    # The company's box was filed on the server.
    assert len(sandbox.fetch("azienda@pec.sandbox.test", "Fatture")) == 2
    assert sandbox.fetch("azienda@pec.sandbox.test", "INBOX") == []

    second = json.loads(wpec(work, "sync", "--json").stdout)[0]
    assert second["archived"] == 0 and second["bodies_fetched"] == 0
    again = wpec(work, "export", "--json")
    assert json.loads(again.stdout)[0]["exported"] == 0


def test_sync_without_any_config_says_where_it_looked(tmp_path: Path) -> None:
    result = wpec(tmp_path, "sync")
    assert result.returncode == 2
    assert "`wpec sync` needs a configuration: no configuration file found" in result.stderr
    assert str(tmp_path / "wpec.toml") in result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_password_and_untrusted_tls_are_clear_errors(sandbox, tmp_path: Path) -> None:
    import tomllib

    import tomli_w

    work = tmp_path / "w"
    config = sandbox.write_config(work / "wpec.toml")
    doc = tomllib.loads(config.read_text())
    (work / "bad.pw").write_text("not-the-password\n")
    doc["accounts"][0]["password_file"] = "bad.pw"
    config.write_text(tomli_w.dumps(doc))
    bad = wpec(work, "sync")
    assert bad.returncode == 4 and "login refused" in bad.stderr
    assert "not-the-password" not in bad.stderr and "Traceback" not in bad.stderr
    # Without the sandbox CA the server certificate is not trusted: refused, not ignored.
    doc = tomllib.loads(sandbox.write_config(work / "wpec.toml").read_text())
    del doc["accounts"][0]["imap"]["ca_file"]
    config.write_text(tomli_w.dumps(doc))
    untrusted = wpec(work, "sync")
    assert untrusted.returncode == 2, untrusted.stderr  # a configuration to fix: ca_file
    assert "certificate not trusted" in untrusted.stderr
    doc["accounts"][0]["imap"]["insecure_skip_verify"] = True  # only when written explicitly
    config.write_text(tomli_w.dumps(doc))
    assert wpec(work, "sync").returncode == 0


def test_sync_watch_picks_up_new_mail_and_stops_cleanly(sandbox, tmp_path: Path) -> None:
    import signal
    import time

    work = tmp_path / "watch"
    sandbox.write_config(work / "wpec.toml")
    env = {k: v for k, v in os.environ.items() if k != "WPEC_CONFIG"}
    # Ctrl-C as a terminal delivers it: a test run started in the background by a shell
    # without job control inherits SIGINT ignored, and so would the watch (Python keeps an
    # ignored SIGINT ignored), which then never stops.
    proc = subprocess.Popen([sys.executable, "-m", "wpec_invoicing", "sync", "--watch"],
                            cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        factory = Factory()
        xml = factory.invoice_xml("W-1", supplier=SELLER, customer=SUPPLIER)
        sandbox.inject_invoice(xml, f"{SELLER_VAT}_W0001.xml")
        deadline = time.monotonic() + 30
        listed: list = []
        while time.monotonic() < deadline and not listed:
            time.sleep(0.5)
            out = wpec(work, "invoices", "list", "--json")
            listed = json.loads(out.stdout) if out.returncode == 0 and out.stdout else []
        assert [i["number"] for i in listed] == ["W-1"]
    finally:
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode in (0, 130), err
    assert "Traceback" not in err and "watching main" in err
