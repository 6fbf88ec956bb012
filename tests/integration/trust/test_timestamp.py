"""A `.p7m` is judged at its signature timestamp (RFC 3161 token, an unsigned attribute) when
one is there and usable, else at the signingTime the signer claims; the report says which."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

from wpec_invoicing.cms import TrustStore, certs, open_signed_data, sign_attached

from .test_revocation import service


def _asn1(cert):
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# id-ct-TSTInfo by its number: asn1crypto builds its name -> number table on first use, so
# the name "tst_info" (registered when `asn1crypto.tsp` is imported) is unknown to a run in
# which anything encoded a content type before that import (it depends on test order).
TST_INFO = "1.2.840.113549.1.9.16.1.4"


def _token(tsa_key, tsa_cert, imprint: bytes, when: datetime, chain=()) -> cms.ContentInfo:
    """A timestamp token: TSTInfo signed (CMS, signed attributes) by the TSA's key."""
    tst = tsp.TSTInfo({
        "version": "v1", "policy": "1.2.3.4",
        "message_imprint": {"hash_algorithm": {"algorithm": "sha256"},
                            "hashed_message": imprint},
        "serial_number": 7, "gen_time": when.replace(microsecond=0),
    })
    content = tst.dump()
    attrs = cms.CMSAttributes([
        cms.CMSAttribute({"type": "content_type", "values": [TST_INFO]}),
        cms.CMSAttribute({"type": "message_digest",
                          "values": [hashlib.sha256(content).digest()]}),
    ])
    signature = tsa_key.sign(attrs.dump(), padding.PKCS1v15(), hashes.SHA256())
    asn1_cert = _asn1(tsa_cert)
    signer = cms.SignerInfo({
        "version": "v1",
        "sid": {"issuer_and_serial_number": {"issuer": asn1_cert.issuer,
                                             "serial_number": asn1_cert.serial_number}},
        "digest_algorithm": {"algorithm": "sha256"}, "signed_attrs": attrs,
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "rsassa_pkcs1v15"}),
        "signature": signature,
    })
    signed = cms.SignedData({
        "version": "v3", "digest_algorithms": [{"algorithm": "sha256"}],
        "encap_content_info": {"content_type": TST_INFO,
                               "content": core.ParsableOctetString(content)},
        "certificates": [asn1_cert, *(_asn1(c) for c in chain)], "signer_infos": [signer],
    })
    return cms.ContentInfo({"content_type": "signed_data", "content": signed})


def _stamped(p7m: bytes, tsa_key, tsa_cert, when: datetime, *, other: bool = False,
             chain=()) -> bytes:
    info = cms.ContentInfo.load(p7m)
    signer = info["content"]["signer_infos"][0]
    imprint = hashlib.sha256(b"another signature" if other
                             else signer["signature"].native).digest()
    signer["unsigned_attrs"] = cms.CMSAttributes([cms.CMSAttribute({
        "type": "signature_time_stamp_token",
        "values": [_token(tsa_key, tsa_cert, imprint, when, chain)]})])
    return info.dump(force=True)


def _p7m(pki, name: str, claimed: datetime) -> bytes:
    return sign_attached(b"<FatturaElettronica/>", pki.key(name), pki.cert(name),
                         extra_certs=[pki.inter.cert], signing_time=claimed)


def _tsa(pki):
    return certs.issue_certificate(pki.inter.key, pki.inter.cert, "Test TSA",
                                   not_before=datetime.now(UTC) - timedelta(days=10))


def test_timestamp_before_the_revocation_makes_the_signature_good(pki, tmp_path):
    now = datetime.now(UTC)
    key, cert = _tsa(pki)
    # the signer claims "now" (after the revocation); the TSA proves two hours ago (before)
    data = _stamped(_p7m(pki, "revoked", now), key, cert, now - timedelta(hours=2),
                    chain=[pki.inter.cert])
    store = TrustStore([pki.root.cert]).with_revocation(service(tmp_path))
    _, v = open_signed_data(data, trust=store)
    assert v.validated_at_source == "timestamp" and v.timestamp_problem is None
    assert v.validated_at == (now - timedelta(hours=2)).replace(microsecond=0)
    assert v.trusted is True and v.revocation.after_signing is True
    _, claimed_only = open_signed_data(_p7m(pki, "revoked", now), trust=store)
    assert claimed_only.validated_at_source == "signing_time"
    assert claimed_only.trusted is False


def test_a_token_for_another_signature_is_not_used(pki, tmp_path):
    now = datetime.now(UTC)
    key, cert = _tsa(pki)
    data = _stamped(_p7m(pki, "good", now), key, cert, now - timedelta(hours=1), other=True)
    _, v = open_signed_data(data, trust=TrustStore([pki.root.cert]))
    assert v.validated_at_source == "signing_time"
    assert "another signature" in v.timestamp_problem


def test_a_token_from_an_untrusted_authority_is_not_used(pki, tmp_path):
    now = datetime.now(UTC)
    rogue_ca_key, rogue_ca = certs.make_ca("Rogue CA")
    key, cert = certs.issue_certificate(rogue_ca_key, rogue_ca, "Rogue TSA")
    data = _stamped(_p7m(pki, "good", now), key, cert, now - timedelta(hours=1))
    _, v = open_signed_data(data, trust=TrustStore([pki.root.cert]))
    assert v.validated_at_source == "signing_time"
    assert "timestamp authority not trusted" in v.timestamp_problem
