"""`wpec sandbox up` exposes the provider's controls (so a user's accounting software can
exercise those paths): --stall, --preavviso-after, --give-up-after, --drop-next-data,
--size-limit, --block-seconds. Run for real: a subprocess, smtplib, imapclient."""

from __future__ import annotations

import json
import os
import signal
import smtplib
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.integration.conftest import _seed_ca, mark_ran
from wpec_invoicing.cms import TrustStore
from wpec_invoicing.pec import inspect
from wpec_invoicing.pec.builder import compose
from wpec_invoicing.sandbox.ca import SandboxCA

WPEC = [sys.executable, "-m", "wpec_invoicing"]
AZIENDA = "azienda@pec.sandbox.test"
CLIENTE = "cliente@pec.sandbox.test"
FORNITORE = "fornitore@pec.sandbox.test"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*WPEC, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60, check=False)


class _Up:
    """A running `wpec sandbox up --json ...` and what it printed."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen([*WPEC, "sandbox", "up", "--dir", "sb", "--json", *args],
                                     cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            self.stop()
            raise AssertionError(f"sandbox up did not start: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        self.info = json.loads(line)
        e = self.info["endpoints"]
        self.ctx = ssl.create_default_context(cafile=e["ca"])
        self.trust = TrustStore.from_pem(Path(e["ca"]).read_bytes())

    def password(self, address: str) -> str:
        return self.info["accounts"][address]["password"]

    def send(self, sender: str, to: str, subject: str, text: str = "prova") -> None:
        raw = compose(sender=sender, to=[to], subject=subject, text=text)
        with smtplib.SMTP_SSL("127.0.0.1", self.info["endpoints"]["smtp_implicit_tls"],
                              context=self.ctx, timeout=30) as client:
            client.login(sender, self.password(sender))
            client.sendmail(sender, [to], raw)

    def inbox(self, address: str) -> list:
        with IMAPClient("127.0.0.1", port=self.info["endpoints"]["imap_implicit_tls"],
                        ssl_context=self.ctx, timeout=30) as client:
            client.login(address, self.password(address))
            client.select_folder("INBOX", readonly=True)
            data = client.fetch(client.search(), ["BODY.PEEK[]"])
        return [inspect(bytes(data[u][b"BODY[]"]), trust=self.trust) for u in sorted(data)]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGKILL)


def _wait(fetch: Callable[[], list], predicate: Callable[[list], bool],
          timeout: float = 10.0) -> list:
    deadline = time.monotonic() + timeout
    while True:
        msgs = fetch()
        if predicate(msgs) or time.monotonic() > deadline:
            return msgs
        time.sleep(0.1)


def test_up_controls_drive_the_provider(tmp_path: Path, sandbox_ca: SandboxCA) -> None:
    _seed_ca(tmp_path / "sb", sandbox_ca)
    up = _Up(tmp_path, "--stall", CLIENTE, "--preavviso-after", "0.2", "--give-up-after", "0.3",
             "--drop-next-data", "--size-limit", "20000",
             "--throttle", f"{FORNITORE}=1/1:block", "--block-seconds", "1")
    try:
        assert up.info["controls"] == {
            "preavviso_after": 0.2, "give_up_after": 0.3, "drop_next_data": True,
            "size_limit": 20000, "block_seconds": 1.0, "stalled": [CLIENTE]}
        # --drop-next-data: the first DATA loses its connection, nothing is accepted ...
        with pytest.raises(smtplib.SMTPServerDisconnected):
            up.send(AZIENDA, CLIENTE, "perso")
        # ... once: the next message is accepted; --stall + the two timers: preavviso, then
        # the delivery is given up after the maximum time (4.4.7).
        up.send(AZIENDA, CLIENTE, "lento")
        # --size-limit: size x recipients over it is not accepted.
        up.send(AZIENDA, CLIENTE, "grande", text="x" * 30000)
        mine = _wait(lambda: up.inbox(AZIENDA),
                     lambda ms: any(m.kind == "errore-consegna" for m in ms))
        got = sorted((m.kind, (m.subject or "").rpartition(": ")[2]) for m in mine)
        assert got == [("accettazione", "lento"), ("errore-consegna", "lento"),
                       ("non-accettazione", "grande"),
                       ("preavviso-errore-consegna", "lento")]
        failure = next(m for m in mine if m.kind == "errore-consegna")
        assert "4.4.7" in (failure.error_detail or "") and failure.signature.trusted
        assert up.inbox(CLIENTE) == []
        # --block-seconds with a block-style --throttle: the client is blocked that long.
        up.send(FORNITORE, AZIENDA, "uno")
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            up.send(FORNITORE, AZIENDA, "due")
        assert refused.value.smtp_code == 421
        assert "(1 s)" in refused.value.smtp_error.decode()
        mark_ran("embedded (pymap)")
    finally:
        assert up.stop() == 0


@pytest.mark.parametrize(("args", "message"), [
    (["--give-up-after", "-1"], "--give-up-after"),
    (["--size-limit", "0"], "--size-limit"),
    (["--block-seconds", "nan"], "--block-seconds"),
    (["--stall", "nessuno@pec.sandbox.test"], "--stall nessuno@pec.sandbox.test"),
])
def test_up_refuses_bad_control_values_in_one_line(tmp_path: Path, sandbox_ca: SandboxCA,
                                                   args: list[str], message: str) -> None:
    _seed_ca(tmp_path / "sb", sandbox_ca)
    result = _run("sandbox", "up", "--dir", "sb", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "sb" / "sandbox.json").exists()


def test_up_help_documents_the_controls(tmp_path: Path) -> None:
    result = _run("sandbox", "up", "--help", cwd=tmp_path)
    assert result.returncode == 0
    for option in ("--stall", "--preavviso-after", "--give-up-after", "--drop-next-data",
                   "--block-seconds", "--size-limit"):
        assert option in result.stdout
