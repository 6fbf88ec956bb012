"""The `wpec sandbox` commands, run for real as a user runs them (subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from imapclient import IMAPClient

from tests.integration.conftest import _seed_ca, mark_ran
from tests.integration.sandbox.helpers import SELFTEST_CHECKS
from wpec_invoicing.pec import inspect
from wpec_invoicing.sandbox.ca import SandboxCA

WPEC = [sys.executable, "-m", "wpec_invoicing"]


def _run(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WPEC, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_selftest_passes_and_reports_every_kind(tmp_path: Path) -> None:
    # The command on the embedded server; the same checks run on Dovecot too, through the
    # API on the shared sandboxes (test_controller.test_selftest_passes): a second CLI run
    # would cost ~5 s for no other code path.
    imap = "embedded"
    result = _run("sandbox", "selftest", "--imap", imap, "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["imap"] == imap
    assert [c["name"] for c in report["checks"]] == SELFTEST_CHECKS
    assert all(c["ok"] for c in report["checks"])
    mark_ran("embedded (pymap)")


def test_bad_imap_choice_is_one_clear_line(tmp_path: Path) -> None:
    result = _run("sandbox", "selftest", "--imap", "exchange", cwd=tmp_path)
    assert result.returncode == 2
    assert "--imap must be 'embedded' or 'dovecot'" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_writes_config_and_injected_invoice_arrives(tmp_path: Path,
                                                       sandbox_ca: SandboxCA) -> None:
    _seed_ca(tmp_path / "sb", sandbox_ca)
    invoices = _run("sandbox", "make-invoices", "--out", "inv", "--count", "2", "--json",
                    cwd=tmp_path)
    assert invoices.returncode == 0, invoices.stderr
    first = json.loads(invoices.stdout)[0]["file"]
    proc = subprocess.Popen([*WPEC, "sandbox", "up", "--dir", "sb", "--json"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
        config = (tmp_path / "wpec.toml").read_text()
        assert config.startswith("# Written by `wpec sandbox`")
        assert f"port = {info['endpoints']['imap_implicit_tls']}" in config
        assert "password" not in config.replace("password_file", "")  # no secret in the TOML
        pw_file = Path(info["accounts"]["azienda@pec.sandbox.test"]["password_file"])
        assert oct(pw_file.stat().st_mode & 0o777) == "0o600"

        injected = _run("sandbox", "inject-invoice", f"inv/{first}", "--to",
                        "azienda@pec.sandbox.test", "--dir", "sb", "--json", cwd=tmp_path)
        assert injected.returncode == 0, injected.stderr
        ident = json.loads(injected.stdout)["identificativo_sdi"]

        import ssl

        ctx = ssl.create_default_context(cafile=info["endpoints"]["ca"])
        with IMAPClient("127.0.0.1", port=info["endpoints"]["imap_implicit_tls"],
                        ssl_context=ctx) as client:
            client.login("azienda@pec.sandbox.test",
                         info["accounts"]["azienda@pec.sandbox.test"]["password"])
            client.select_folder("INBOX")
            raws = [v[b"BODY[]"] for v in client.fetch(client.search(), ["BODY[]"]).values()]
        (msg,) = [inspect(r) for r in raws]
        assert msg.sdi.kind == "invoice" and msg.sdi.identificativo_sdi == ident
        assert msg.sdi.invoice_files == (first,)
        mark_ran("embedded (pymap)")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0
    assert not (tmp_path / "sb" / "sandbox.json").exists()
