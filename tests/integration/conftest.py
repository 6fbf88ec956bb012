"""Shared real-server fixtures for integration tests (owned by the sandbox area).

- `sandbox_ca`: one sandbox CA for the session (TLS server cert + PEC provider certs).
- `dovecot_server`: a throwaway Dovecot (session) with users `DOVECOT_USERS`; `.ca_path`
  verifies its TLS; `dovecot_account` gives each test a fresh, empty mailbox on it.
- `sandbox` (embedded pymap IMAP) and `sandbox_dovecot` (same sandbox, Dovecot as IMAP
  server): a fresh `Sandbox` per test, started in its own folder.
Dovecot tests skip, with the reason, only when the dovecot binary is absent. The terminal
summary says which IMAP servers actually ran.
"""

from __future__ import annotations

import itertools
import shutil
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from wpec_invoicing.sandbox.ca import SandboxCA
from wpec_invoicing.sandbox.dovecot import DovecotServer, DovecotUser, find_dovecot

DOVECOT_USERS = {
    "alice@pec.sandbox.test": "alice-secret-1",
    "bob@pec.sandbox.test": "bob-secret-2",
    "carol@pec.sandbox.test": "carol-secret-3",
}

_SERVERS_RAN: set[str] = set()
_TIMINGS: list[tuple[str, str]] = []
_SERVERS_SKIPPED: dict[str, str] = {}
_counter = itertools.count(1)

NO_DOVECOT = "dovecot is not installed (/usr/sbin/dovecot): `make system-deps` installs it"


def mark_ran(server: str) -> None:
    """Record that a test used this IMAP server (for the terminal summary)."""
    _SERVERS_RAN.add(server)


def record_timing(label: str, text: str) -> None:
    """A measured figure to print in the terminal summary (measured, never asserted tightly:
    the machines running the tests are shared)."""
    _TIMINGS.append((label, text))


def require_dovecot() -> None:
    """Skip the calling test when Dovecot is missing, and record it for the summary."""
    if find_dovecot() is None:
        _SERVERS_SKIPPED["dovecot"] = NO_DOVECOT
        pytest.skip(NO_DOVECOT)


def tls_context(ca_path: str | Path) -> ssl.SSLContext:
    """A client TLS context that verifies the sandbox servers against the sandbox CA."""
    return ssl.create_default_context(cafile=str(ca_path))


@pytest.fixture(scope="session")
def sandbox_ca(tmp_path_factory: pytest.TempPathFactory) -> SandboxCA:
    ca = SandboxCA(tmp_path_factory.mktemp("sandbox-ca"))
    ca.ensure()
    ca.tls_server()
    return ca


@pytest.fixture(scope="session")
def dovecot_server(tmp_path_factory: pytest.TempPathFactory,
                   sandbox_ca: SandboxCA) -> Iterator[DovecotServer]:
    """A running Dovecot with `DOVECOT_USERS`; attribute `ca_path` is the CA to verify TLS."""
    require_dovecot()
    tls = sandbox_ca.tls_server()
    server = DovecotServer(
        tmp_path_factory.mktemp("dovecot"),
        [DovecotUser(name, pw) for name, pw in DOVECOT_USERS.items()],
        cert_file=tls.cert_path, key_file=tls.key_path,
    )
    server.ca_path = sandbox_ca.ca_path  # type: ignore[attr-defined]
    with server:
        _SERVERS_RAN.add("dovecot")
        yield server


@pytest.fixture
def dovecot_account(dovecot_server: DovecotServer) -> tuple[str, str]:
    """A fresh empty mailbox on `dovecot_server`: (login, password)."""
    n = next(_counter)
    name, password = f"user{n}@pec.sandbox.test", f"pw-{n}-secret"
    dovecot_server.add_user(name, password)
    return name, password


def _seed_ca(directory: Path, sandbox_ca: SandboxCA) -> None:
    # Copy the session CA into a new sandbox folder so each sandbox starts without making keys.
    shutil.copytree(sandbox_ca.directory, directory / "ca", dirs_exist_ok=True)


@pytest.fixture
def sandbox(tmp_path: Path, sandbox_ca: SandboxCA) -> Iterator[object]:
    """A started sandbox with the embedded IMAP server (pymap)."""
    from wpec_invoicing.sandbox import Sandbox

    _seed_ca(tmp_path / "sandbox", sandbox_ca)
    with Sandbox(tmp_path / "sandbox", imap="embedded") as sb:
        _SERVERS_RAN.add("embedded (pymap)")
        yield sb


@pytest.fixture
def sandbox_dovecot(tmp_path: Path, sandbox_ca: SandboxCA) -> Iterator[object]:
    """A started sandbox whose mailboxes are served by a throwaway Dovecot."""
    require_dovecot()
    from wpec_invoicing.sandbox import Sandbox

    _seed_ca(tmp_path / "sandbox", sandbox_ca)
    with Sandbox(tmp_path / "sandbox", imap="dovecot") as sb:
        _SERVERS_RAN.add("dovecot")
        yield sb


@pytest.fixture(params=["embedded", "dovecot"])
def any_sandbox(request: pytest.FixtureRequest, tmp_path: Path,
                sandbox_ca: SandboxCA) -> Iterator[object]:
    """The same test against both IMAP servers."""
    if request.param == "dovecot":
        require_dovecot()
    from wpec_invoicing.sandbox import Sandbox

    _seed_ca(tmp_path / "sandbox", sandbox_ca)
    with Sandbox(tmp_path / "sandbox", imap=request.param) as sb:
        _SERVERS_RAN.add("dovecot" if request.param == "dovecot" else "embedded (pymap)")
        yield sb


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for label, text in _TIMINGS:
        terminalreporter.write_line(f"{label}: {text}")
    if not _SERVERS_RAN and not _SERVERS_SKIPPED:
        return
    ran = ", ".join(sorted(_SERVERS_RAN)) or "none"
    terminalreporter.write_line(f"IMAP servers used by integration tests: {ran}")
    for name, reason in _SERVERS_SKIPPED.items():
        if name not in _SERVERS_RAN:
            terminalreporter.write_line(f"IMAP server NOT tested: {name} ({reason})")
