"""Sandboxes shared by the tests of this folder: one per IMAP server for the whole session
(starting one costs ~0.3 s embedded, ~0.5 s with Dovecot); each test makes its own fresh
mailboxes, so tests do not see each other's mail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import _seed_ca, mark_ran, require_dovecot
from wpec_invoicing.sandbox import Sandbox
from wpec_invoicing.sandbox.ca import SandboxCA

_SHARED: dict[str, Sandbox] = {}


@pytest.fixture(scope="session", params=["embedded", "dovecot"])
def shared_sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                   sandbox_ca: SandboxCA) -> Iterator[Sandbox]:
    """A running sandbox per IMAP server (both, unless Dovecot is missing)."""
    kind = request.param
    if kind == "dovecot":
        require_dovecot()
    directory: Path = tmp_path_factory.mktemp(f"shared-{kind}")
    _seed_ca(directory, sandbox_ca)
    with Sandbox(directory, imap=kind, preavviso_after=0.5) as sb:
        mark_ran("dovecot" if kind == "dovecot" else "embedded (pymap)")
        yield sb


@pytest.fixture
def sb(shared_sandbox: Sandbox) -> Iterator[Sandbox]:
    """The shared sandbox, with its global switches restored after each test."""
    provider = shared_sandbox.provider
    saved = (provider.max_total_bytes, provider.preavviso_after,
             provider.mancata_consegna_after, shared_sandbox.sdi.pa_outcome)
    routing = dict(shared_sandbox.sdi.routing)
    yield shared_sandbox
    shared_sandbox.sdi.routing.clear()
    shared_sandbox.sdi.routing.update(routing)
    (provider.max_total_bytes, provider.preavviso_after, provider.mancata_consegna_after,
     shared_sandbox.sdi.pa_outcome) = saved
    provider.drop_next_data = False
