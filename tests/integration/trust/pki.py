"""A test PKI (root, intermediate, leaves) whose revocation data a real loopback server serves.

Built with cryptography (`cms/certs.py`); the root's and the intermediate's CRL and OCSP
live at `RevocationResponder` (`sandbox/revocation.py`), with OCSP answers signed by a
delegated responder certificate. Leaves (all issued by the intermediate):

| name          | what                                                     |
|---------------|----------------------------------------------------------|
| good          | valid, not revoked                                        |
| revoked       | revoked (keyCompromise) an hour ago                       |
| expired       | valid for ten days a year ago                             |
| notyet        | valid from next month                                     |
| qualified     | valid, QcStatements (QcCompliance, QcSSCD, QcType esign)  |
| nourl         | valid, names no CRL and no OCSP address                   |
| crlonly       | valid, only a CRL distribution point (no OCSP)            |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from wpec_invoicing.cms import certs
from wpec_invoicing.sandbox.revocation import Authority, RevocationResponder


@dataclass
class Pki:
    responder: RevocationResponder
    root: Authority
    inter: Authority
    leaves: dict[str, tuple[Any, x509.Certificate]] = field(default_factory=dict)

    def cert(self, name: str) -> x509.Certificate:
        return self.leaves[name][1]

    def key(self, name: str) -> Any:
        return self.leaves[name][0]


def build_pki(responder: RevocationResponder) -> Pki:
    now = datetime.now(UTC)
    # Backdated: leaves that were valid a year ago chain to them.
    since = now - timedelta(days=800)
    root_key, root_cert = certs.make_ca("Test Root CA", organization="wpec tests",
                                        not_before=since)
    r_key, r_cert = certs.issue_ocsp_responder(root_key, root_cert, "Test Root OCSP")
    root = responder.add(Authority("root", root_key, root_cert, r_key, r_cert))
    inter_key, inter_cert = certs.issue_ca(
        root_key, root_cert, "Test Intermediate CA", organization="wpec tests",
        crl_url=responder.crl_url("root"), ocsp_url=responder.ocsp_url("root"),
        not_before=since)
    i_key, i_cert = certs.issue_ocsp_responder(inter_key, inter_cert, "Test Intermediate OCSP")
    inter = responder.add(Authority("inter", inter_key, inter_cert, i_key, i_cert))
    pki = Pki(responder, root, inter)
    urls = {"crl_url": responder.crl_url("inter"), "ocsp_url": responder.ocsp_url("inter")}

    def leaf(name: str, **kwargs: Any) -> None:
        options = {**urls, **kwargs}
        pki.leaves[name] = certs.issue_certificate(
            inter_key, inter_cert, f"Signer {name}", email=f"{name}@example.test",
            organization="wpec tests", **options)

    leaf("good")
    leaf("revoked", not_before=now - timedelta(days=3))
    leaf("expired", not_before=now - timedelta(days=400), days=10)
    leaf("notyet", not_before=now + timedelta(days=30))
    leaf("qualified", qualified=True)
    leaf("nourl", crl_url=None, ocsp_url=None)
    leaf("crlonly", ocsp_url=None)
    inter.revoke(pki.cert("revoked").serial_number, when=now - timedelta(hours=1))
    return pki
