"""Certificates that strict parsers refuse (as found in real Italian CAdES files) still verify."""

from __future__ import annotations

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from wpec_invoicing.cms import (
    TrustStore,
    open_signed_data,
    sign_attached,
    sign_detached,
    verify_detached,
)
from wpec_invoicing.cms.certs import issue_certificate

CONTENT = b"<FatturaElettronica/>" * 50


def _ber_boolean_variant(ca_key, cert: x509.Certificate) -> bytes:
    """The same certificate with BOOLEAN TRUE written as 0x01 (BER) instead of 0xFF (DER),
    re-signed by the CA: valid signature, but not DER — cryptography refuses to load it."""
    der = cert.public_bytes(serialization.Encoding.DER)
    original = asn1_x509.Certificate.load(der)
    tbs = original["tbs_certificate"].dump()
    assert bytes.fromhex("0101ff") in tbs
    quirky_tbs = tbs.replace(bytes.fromhex("0101ff"), bytes.fromhex("010101"))
    signature = ca_key.sign(quirky_tbs, padding.PKCS1v15(), hashes.SHA256())
    quirky = asn1_x509.Certificate(
        {
            "tbs_certificate": asn1_x509.TbsCertificate.load(quirky_tbs),
            "signature_algorithm": original["signature_algorithm"],
            "signature_value": signature,
        }
    ).dump()
    assert len(quirky) == len(der)  # so it can replace the original inside a CMS
    return quirky


@pytest.fixture(scope="module")
def quirky(pki):
    key, cert = issue_certificate(
        pki.ca_key, pki.ca, "Firma Qualificata Rossi", email="mario.rossi@example.it",
        organization="Studio Rossi",
    )
    quirky_der = _ber_boolean_variant(pki.ca_key, cert)
    with pytest.raises(ValueError):
        x509.load_der_x509_certificate(quirky_der)  # the premise: strict parsing fails
    return key, cert, quirky_der


def test_p7m_with_strict_parser_breaking_certificate(pki, quirky):
    key, cert, quirky_der = quirky
    good = cert.public_bytes(serialization.Encoding.DER)
    p7m = sign_attached(CONTENT, key, cert).replace(good, quirky_der)
    assert quirky_der in p7m
    content, verdict = open_signed_data(p7m, trust=TrustStore([pki.ca]))
    assert content == CONTENT
    assert verdict.intact is True, verdict.reason
    # The subject is written the same way as for certificates cryptography can load.
    assert verdict.signer == cert.subject.rfc4514_string()
    assert verdict.trusted is True, verdict.reason  # the link was checked on the raw TBS


def test_tampered_content_with_strict_parser_breaking_certificate(pki, quirky):
    key, cert, quirky_der = quirky
    good = cert.public_bytes(serialization.Encoding.DER)
    sig = sign_detached(CONTENT, key, cert).replace(good, quirky_der)
    assert verify_detached(CONTENT, sig).intact is True
    verdict = verify_detached(CONTENT + b" ", sig)
    assert verdict.intact is False


def test_strict_parser_breaking_certificate_not_trusted_by_other_ca(pki, quirky):
    key, cert, quirky_der = quirky
    good = cert.public_bytes(serialization.Encoding.DER)
    p7m = sign_attached(CONTENT, key, cert).replace(good, quirky_der)
    verdict = open_signed_data(p7m, trust=TrustStore([pki.other_ca]))[1]
    assert verdict.intact is True and verdict.trusted is False

