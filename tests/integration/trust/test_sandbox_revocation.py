"""The sandbox CA publishes a CRL and answers OCSP while the sandbox runs; the certificates it
issues name those addresses, and a revocation is seen at once and kept across restarts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from wpec_invoicing.cms import TrustStore, open_signed_data, sign_attached

from .test_revocation import service


def _check(sandbox, key, cert, cache, *, later: bool = False):
    when = datetime.now(UTC) + (timedelta(seconds=2) if later else -timedelta(seconds=30))
    data = sign_attached(b"<x/>", key, cert, signing_time=when)
    store = TrustStore.from_pem(sandbox.ca_path.read_bytes()).with_revocation(service(cache))
    return open_signed_data(data, trust=store)[1]


def test_sandbox_signer_is_checked_and_can_be_revoked(sandbox, tmp_path):
    key, cert = sandbox.invoice_signer("Fornitore Revocato")
    good = _check(sandbox, key, cert, tmp_path / "a")
    assert good.trusted is True and good.revocation.status == "good"
    sandbox.ca.revoke(cert, "key_compromise")
    revoked = _check(sandbox, key, cert, tmp_path / "b", later=True)  # signed after it
    assert revoked.trusted is False and revoked.revocation.status == "revoked"
    state = json.loads((sandbox.ca.directory / "revocation.json").read_text())
    assert str(cert.serial_number) in state["revoked"]
