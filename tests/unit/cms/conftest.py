"""Keys and certificates made once per test session (RSA key generation is the slow part)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509

from wpec_invoicing.cms.certs import issue_certificate, make_ca


@dataclass(frozen=True)
class Pki:
    ca_key: Any
    ca: x509.Certificate
    key: Any  # the PEC provider's signing key, issued by `ca`
    cert: x509.Certificate
    other_ca_key: Any
    other_ca: x509.Certificate
    other_key: Any  # a key/cert from an unrelated CA
    other_cert: x509.Certificate
    old_key: Any  # issued by `ca`, valid only from 2020-01-01 to 2021-01-01
    old_cert: x509.Certificate
    inter_key: Any  # intermediate CA under `ca`
    inter: x509.Certificate
    leaf_key: Any  # issued by the intermediate
    leaf: x509.Certificate


@pytest.fixture(scope="session")
def pki() -> Pki:
    # Backdated so that certificates valid in 2020 chain to it (judged at signing time).
    ca_key, ca = make_ca(
        "Test PEC Root CA", organization="Gestore Test S.p.A.",
        not_before=datetime(2019, 1, 1, tzinfo=UTC), days=20 * 365,
    )
    key, cert = issue_certificate(
        ca_key, ca, "Posta certificata Gestore Test", email="posta-certificata@pec.test",
        organization="Gestore Test S.p.A.",
    )
    other_ca_key, other_ca = make_ca("Unrelated CA")
    other_key, other_cert = issue_certificate(
        other_ca_key, other_ca, "Posta certificata Gestore Test", email="posta-certificata@pec.test"
    )
    old_key, old_cert = issue_certificate(
        ca_key, ca, "Old signer", email="old@pec.test",
        not_before=datetime(2020, 1, 1, tzinfo=UTC), days=366,
    )
    inter_key, inter = _intermediate(ca_key, ca)
    leaf_key, leaf = issue_certificate(inter_key, inter, "Leaf signer", email="leaf@pec.test")
    return Pki(ca_key, ca, key, cert, other_ca_key, other_ca, other_key, other_cert,
               old_key, old_cert, inter_key, inter, leaf_key, leaf)


def _intermediate(ca_key: Any, ca: x509.Certificate) -> tuple[Any, x509.Certificate]:
    """An intermediate CA: make_ca is self-signed, so re-sign a fresh CA's key under `ca`."""
    from cryptography.hazmat.primitives import hashes

    key, selfsigned = make_ca("Test Intermediate CA")
    now = datetime.now(UTC) - timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(selfsigned.subject)
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert
