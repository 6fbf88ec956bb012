"""The test PKI and its revocation server (a real HTTP server on loopback), once a session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from wpec_invoicing.sandbox.revocation import RevocationResponder

from .pki import Pki, build_pki


@pytest.fixture(scope="session")
def pki() -> Iterator[Pki]:
    with RevocationResponder() as responder:
        yield build_pki(responder)
