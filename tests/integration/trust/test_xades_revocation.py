"""An XAdES-signed invoice gets the same judgement as a `.p7m`: revocation, qualified."""

from __future__ import annotations

import pytest

from tests.unit.fatturapa.test_xades import xades_sign
from wpec_invoicing.cms import TrustStore
from wpec_invoicing.fatturapa import read_invoice, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

from .test_revocation import service


@pytest.mark.parametrize(("signer", "status", "trusted"), [
    ("qualified", "good", True), ("revoked", "revoked", False)])
def test_xades_invoice_is_checked_for_revocation(pki, tmp_path, signer, status, trusted):
    xml = write_invoice(sample_invoice())
    signed = xades_sign(xml, pki.key(signer), pki.cert(signer), chain=[pki.inter.cert])
    store = TrustStore([pki.root.cert]).with_revocation(service(tmp_path))
    sig = read_invoice(signed, trust=store).signature
    assert sig.intact is True and sig.trusted is trusted
    assert sig.revocation.status == status and sig.revocation.policy == "soft-fail"
    assert sig.qualified is (signer == "qualified")
    assert sig.validated_at_source == "signing_time"
