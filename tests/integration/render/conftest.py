"""A real CUPS with the cups-pdf virtual printer, started by the test session on its own
configuration folder and socket (never the system's cupsd, never its spool or queues).

cups-pdf writes into the folder its own configuration names (`Out` in
/etc/cups/cups-pdf.conf, `${HOME}/PDF` on Debian: for jobs sent as root, /root/PDF); the
fixture reads that setting and the tests find their output there by CUPS job id.
"""

from __future__ import annotations

import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

CUPSD = "/usr/sbin/cupsd"
BACKEND = "/usr/lib/cups/backend/cups-pdf"
PPD = "/usr/share/ppd/cups-pdf/CUPS-PDF_opt.ppd"
QUEUE = "wpec-pdf"


@dataclass(frozen=True)
class Cups:
    socket: str
    queue: str
    output: Path  # where cups-pdf writes the PDFs

    started: float  # files older than this are not ours (job numbers restart per cupsd)

    def wait_for_job(self, job_id: str, timeout: float = 60) -> Path:
        """The PDF cups-pdf made of job `QUEUE-N` (its name ends with `job_N.pdf`)."""
        number = job_id.rsplit("-", 1)[1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [p for p in self.output.glob(f"*job_{number}.pdf")
                     if p.stat().st_size > 0 and p.stat().st_mtime >= self.started]
            if found and time.time() - found[0].stat().st_mtime > 0.5:  # written whole
                return found[0]
            time.sleep(0.3)
        raise AssertionError(f"cups-pdf wrote nothing for {job_id} in {self.output}")


def _cups_pdf_output() -> Path:
    out = "${HOME}/PDF"
    conf = Path("/etc/cups/cups-pdf.conf")
    if conf.is_file():
        for line in conf.read_text().splitlines():
            match = re.match(r"\s*Out\s+(\S+)", line)
            if match:
                out = match.group(1)
    home = pwd.getpwuid(os.geteuid()).pw_dir  # cups-pdf uses the job user's home
    return Path(out.replace("${HOME}", home))


@pytest.fixture(scope="session")
def cups(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cups]:
    missing = [p for p in (CUPSD, BACKEND, PPD) if not Path(p).exists()]
    if missing or shutil.which("lp") is None:
        pytest.skip(f"CUPS / cups-pdf not installed ({', '.join(missing) or 'lp'}): "
                    "scripts/install-system-deps.sh installs them")
    if os.geteuid() != 0:
        pytest.skip("cups-pdf's backend runs only under a root cupsd")
    # Not under pytest's tmp folder: that is 0700, and CUPS filters run as the `lp` user.
    root = Path(tempfile.mkdtemp(prefix="wpec-cups-"))
    root.chmod(0o755)
    for name in ("spool", "tmp", "cache", "state", "ppd"):
        (root / name).mkdir()
    (root / "tmp").chmod(0o1777)  # filters run as the `lp` user
    (root / "spool").chmod(0o755)
    socket = root / "cups.sock"
    (root / "cupsd.conf").write_text(
        f"Listen {socket}\nLogLevel warn\nWebInterface No\nBrowsing Off\n"
        "DefaultAuthType None\n<Location />\n  Order allow,deny\n  Allow all\n</Location>\n")
    (root / "cups-files.conf").write_text(
        f"ServerRoot {root}\nRequestRoot {root}/spool\nTempDir {root}/tmp\n"
        f"CacheDir {root}/cache\nStateDir {root}/state\nErrorLog {root}/error_log\n"
        f"AccessLog {root}/access_log\nPageLog {root}/page_log\nServerBin /usr/lib/cups\n"
        "DataDir /usr/share/cups\nSystemGroup root\n")
    proc = subprocess.Popen([CUPSD, "-f", "-c", str(root / "cupsd.conf"),
                             "-s", str(root / "cups-files.conf")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while not socket.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"cupsd did not start: {err[-500:]}")
            time.sleep(0.1)
        # cups-pdf only takes PostScript; poppler's pdftocairo (unlike pdftops or gs) keeps
        # the text extractable through PDF -> PS -> PDF, so the test can read the printout.
        subprocess.run(["lpadmin", "-h", str(socket), "-p", QUEUE, "-v", "cups-pdf:/",
                        "-P", PPD, "-o", "pdftops-renderer-default=pdftocairo", "-E"],
                       check=True, capture_output=True)
        yield Cups(str(socket), QUEUE, _cups_pdf_output(), time.time() - 1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def factory():
    """Realistic PEC traffic (the ingest tests' factory: SdI envelopes with an invoice)."""
    from tests.integration.ingest.factory import Factory

    return Factory()
