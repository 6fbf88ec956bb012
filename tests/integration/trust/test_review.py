"""A received invoice whose signer's certificate is revoked needs review, saying so; an
unknown status needs review only under hard-fail. Through the real ingest registration, with
the trust the config describes (`[trust]`), against the loopback CRL/OCSP server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.ingest.conftest import make_config, open_store
from tests.integration.ingest.factory import SUPPLIER_VAT, Factory
from wpec_invoicing.cms import certs, sign_attached
from wpec_invoicing.ingest.context import load_trust
from wpec_invoicing.rules.passive import register_invoice


def _register(tmp_path, pki, signer: str, policy: str, number: str):
    config = make_config(tmp_path, ca_pem=certs.cert_to_pem(pki.root.cert),
                         extra={"trust": {"revocation_invoices": policy}})
    store = open_store(config)
    data = sign_attached(Factory().invoice_xml(number), pki.key(signer), pki.cert(signer),
                         extra_certs=[pki.inter.cert],
                         signing_time=datetime.now(UTC) - timedelta(minutes=1))
    try:
        with store.session() as s:
            inv, _ = register_invoice(s, config, store.archive, data,
                                      file_name=f"{SUPPLIER_VAT}_{number}.xml.p7m",
                                      source="import", trust=load_trust(config))
            return inv.status, {r["code"]: r["message"] for r in inv.reasons}, inv.signature
    finally:
        store.close()


def test_revoked_signer_needs_review_with_the_reason(tmp_path, pki):
    status, reasons, sig = _register(tmp_path, pki, "revoked", "soft-fail", "R0001")
    assert status == "needs-review"
    assert "revoked on" in reasons["signer-revoked"]
    assert "key_compromise" in reasons["signer-revoked"]
    assert sig["revocation"]["status"] == "revoked" and sig["checked_at"]


@pytest.mark.parametrize(("policy", "review"), [("soft-fail", False), ("hard-fail", True)])
def test_unknown_status_is_a_review_only_under_hard_fail(tmp_path, pki, policy, review):
    _status, reasons, sig = _register(tmp_path, pki, "nourl", policy, "R0002")
    assert sig["revocation"]["status"] == "unknown"
    assert ("signer-revocation-unknown" in reasons) is review


def test_good_signer_adds_no_reason(tmp_path, pki):
    _status, reasons, sig = _register(tmp_path, pki, "good", "hard-fail", "R0003")
    assert sig["revocation"]["status"] == "good" and sig["trusted"] is True
    assert not {"signer-revoked", "signer-revocation-unknown"} & set(reasons)
