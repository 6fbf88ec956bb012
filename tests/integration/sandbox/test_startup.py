"""How long the embedded sandbox takes to start (issue 4: "starts in under 2 seconds").

The issue's 2 s figure is measured and printed here (`bench`-style: the figures go to the
pytest terminal summary and to the JUnit report as properties), NOT asserted tightly: the
machines running the tests are shared (2 cores, several suites at once), so a timing assertion
would fail for reasons that have nothing to do with the sandbox. The only assertion is a
generous bound (10 s) that catches a hang or a start that waits on a timeout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import mark_ran, record_timing

HANG_BOUND = 10.0

# Run in a fresh interpreter so the imports a `wpec sandbox up` pays are counted too.
# "Ready" = start() returned AND a client logged in over IMAP (TLS) and got the SMTP banner.
_SCRIPT = r"""
import json, smtplib, sys, time
from pathlib import Path
t0 = time.perf_counter()
from wpec_invoicing.sandbox import Sandbox
from imapclient import IMAPClient

def ready(sb):
    with IMAPClient(sb.host, port=sb.imap_port, ssl_context=sb.ssl_context()) as c:
        c.login("azienda@pec.sandbox.test", sb.accounts["azienda@pec.sandbox.test"])
    with smtplib.SMTP_SSL(sb.host, sb.smtp_implicit_port, context=sb.ssl_context()) as s:
        s.ehlo()

times = {}
for label in ("first", "restart"):  # first: CA and accounts made; restart: folder kept
    t = time.perf_counter() if label == "restart" else t0
    sb = Sandbox(Path(sys.argv[1])).start()
    times[label + "_start"] = time.perf_counter() - t
    ready(sb)
    times[label + "_ready"] = time.perf_counter() - t
    sb.stop()
print(json.dumps(times))
"""


def test_embedded_sandbox_start_time(tmp_path: Path,
                                     record_property: pytest.RecordProperty) -> None:
    """First start (imports, CA, accounts, IMAP, SMTP) and restart of the embedded sandbox:
    seconds until start() returns and until a client is served. Printed, bound only by 10 s."""
    result = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "sb")],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    times = json.loads(result.stdout.strip().splitlines()[-1])
    for label, seconds in times.items():
        record_property(f"sandbox_{label}_seconds", round(seconds, 3))
    record_timing("embedded sandbox start (issue 4: < 2 s; measured, not asserted)",
                  ", ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in times.items()))
    assert (tmp_path / "sb" / "ca").is_dir()  # it was a real first start, CA made
    for label, seconds in times.items():
        assert seconds < HANG_BOUND, f"{label}: {seconds:.1f} s — hung or waited on a timeout"
    mark_ran("embedded (pymap)")
