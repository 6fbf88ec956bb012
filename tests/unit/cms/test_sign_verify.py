"""Sign then verify: what a PEC reader or an invoice validator reports to its user."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import pkcs7

from wpec_invoicing.cms import (
    CmsError,
    SignatureVerdict,
    open_signed_data,
    sign_attached,
    sign_detached,
    verify_detached,
)

CONTENT = b"Content-Type: text/plain\r\n\r\nRicevuta di accettazione\r\n" * 40


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_detached_round_trip(pki, digest):
    sig = sign_detached(CONTENT, pki.key, pki.cert, digest=digest)
    verdict = verify_detached(CONTENT, sig)
    assert verdict.present is True
    assert verdict.intact is True
    assert verdict.reason is None
    assert verdict.trusted is None  # no store given
    assert verdict.digest_algorithm == digest
    assert verdict.signer == pki.cert.subject.rfc4514_string()
    assert "CN=Posta certificata Gestore Test" in verdict.signer
    assert verdict.signing_time is not None and verdict.signing_time.tzinfo is not None
    assert abs((datetime.now(UTC) - verdict.signing_time).total_seconds()) < 600


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
def test_attached_round_trip(pki, digest):
    p7m = sign_attached(CONTENT, pki.key, pki.cert, digest=digest)
    content, verdict = open_signed_data(p7m)
    assert content == CONTENT
    assert verdict.intact is True and verdict.present is True
    assert verdict.digest_algorithm == digest


def test_signed_bytes_are_exactly_the_given_bytes(pki):
    """No S/MIME canonicalisation: bare LF and trailing blanks survive, byte for byte."""
    raw = b"line one\nline two  \n\n\x00\xff binary tail"
    content, verdict = open_signed_data(sign_attached(raw, pki.key, pki.cert))
    assert content == raw and verdict.intact
    assert verify_detached(raw, sign_detached(raw, pki.key, pki.cert)).intact
    crlf = raw.replace(b"\n", b"\r\n")
    assert not verify_detached(crlf, sign_detached(raw, pki.key, pki.cert)).intact


@pytest.mark.parametrize("digest", ["sha1", "sha256"])
@pytest.mark.parametrize("position", [0, len(CONTENT) // 2, len(CONTENT) - 1])
def test_one_flipped_byte_breaks_detached(pki, digest, position):
    sig = sign_detached(CONTENT, pki.key, pki.cert, digest=digest)
    tampered = bytearray(CONTENT)
    tampered[position] ^= 0x01
    verdict = verify_detached(bytes(tampered), sig)
    assert verdict.present is True
    assert verdict.intact is False
    assert "messageDigest" in verdict.reason
    # Who signed is still reported: the user sees whose signature no longer matches.
    assert verdict.signer == pki.cert.subject.rfc4514_string()


def test_flipped_byte_inside_p7m_content_breaks_attached(pki):
    p7m = bytearray(sign_attached(CONTENT, pki.key, pki.cert))
    at = bytes(p7m).index(b"Ricevuta") + 3
    p7m[at] ^= 0x20
    content, verdict = open_signed_data(bytes(p7m))
    assert content != CONTENT  # the content is still handed over...
    assert verdict.intact is False  # ...with a verdict saying it is not what was signed
    assert verdict.reason


def test_flipped_byte_in_signature_value(pki):
    sig = bytearray(sign_detached(CONTENT, pki.key, pki.cert))
    sig[-5] ^= 0xFF  # inside the signature value, at the end of the SignerInfo
    verdict = verify_detached(CONTENT, bytes(sig))
    assert verdict.intact is False
    assert "signature" in verdict.reason


def test_signature_made_with_a_different_key(pki):
    """The cert says "provider", the key is someone else's: intact must be False."""
    sig = sign_detached(CONTENT, pki.other_key, pki.cert)
    verdict = verify_detached(CONTENT, sig)
    assert verdict.intact is False
    assert "does not match the signer's public key" in verdict.reason


def test_swapped_certificate(pki):
    """Replace the carried certificate with another one of the same name (a forgery)."""
    sig = sign_detached(CONTENT, pki.key, pki.cert)
    good = pki.cert.public_bytes(serialization.Encoding.DER)
    fake = pki.other_cert.public_bytes(serialization.Encoding.DER)
    assert len(good) == len(fake) or True
    forged = sig.replace(good, fake)
    assert forged != sig
    verdict = verify_detached(CONTENT, forged)
    assert verdict.intact is False
    assert verdict.reason


def test_signature_for_other_content(pki):
    sig = sign_detached(b"another message", pki.key, pki.cert)
    assert verify_detached(CONTENT, sig).intact is False


def test_ecdsa_signer(pki):
    from wpec_invoicing.cms.certs import make_ca  # noqa: F401 - keep import path exercised

    key = ec.generate_private_key(ec.SECP256R1())
    from cryptography import x509

    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "EC signer")]))
        .issuer_name(pki.ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(pki.ca.not_valid_before_utc)
        .not_valid_after(pki.ca.not_valid_after_utc)
        .sign(pki.ca_key, hashes.SHA256())
    )
    for digest in ("sha1", "sha256"):
        sig = sign_detached(CONTENT, key, cert, digest=digest)
        verdict = verify_detached(CONTENT, sig)
        assert verdict.intact is True, verdict.reason
        assert verdict.signer == "CN=EC signer"
        assert verify_detached(CONTENT + b"!", sig).intact is False


def test_rsa_pss_signer(pki):
    sig = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(
            pki.cert, pki.key, hashes.SHA256(),
            rsa_padding=padding.PSS(padding.MGF1(hashes.SHA256()), padding.PSS.DIGEST_LENGTH),
        )
        .sign(serialization.Encoding.DER,
              [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )
    assert verify_detached(CONTENT, sig).intact is True
    assert verify_detached(CONTENT[:-1], sig).intact is False


@pytest.mark.parametrize("digest", [hashes.SHA384(), hashes.SHA512(), hashes.SHA224()])
def test_other_sha2_digests(pki, digest):
    sig = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(pki.cert, pki.key, digest)
        .sign(serialization.Encoding.DER,
              [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary])
    )
    verdict = verify_detached(CONTENT, sig)
    assert verdict.intact is True and verdict.digest_algorithm == digest.name


def test_no_signed_attributes_signature_over_content(pki):
    sig = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(pki.cert, pki.key, hashes.SHA256())
        .sign(serialization.Encoding.DER,
              [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary,
               pkcs7.PKCS7Options.NoAttributes])
    )
    verdict = verify_detached(CONTENT, sig)
    assert verdict.intact is True
    assert verdict.signing_time is None
    assert verify_detached(CONTENT + b" ", sig).intact is False
    assert verify_detached(memoryview(CONTENT), sig).intact is True


def test_memoryview_content_is_verified_in_place(pki):
    """The envelope hands a view of the received message: it is hashed without a copy."""
    import tracemalloc

    big = b"0123456789abcdef\r\n" * ((8 << 20) // 18)  # ~8 MB
    sig = sign_detached(big, pki.key, pki.cert)
    view = memoryview(big)
    tracemalloc.start()
    try:
        verdict = verify_detached(view, sig)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert verdict.intact is True
    assert peak < len(big) // 4, f"{peak} bytes allocated to verify {len(big)} bytes"
    assert verify_detached(view[:-1], sig).intact is False


def test_explicit_signing_time_is_reported(pki):
    when = datetime(2021, 6, 1, 10, 30, tzinfo=UTC)
    sig = sign_detached(CONTENT, pki.key, pki.cert, signing_time=when)
    verdict = verify_detached(CONTENT, sig)
    assert verdict.intact is True
    assert verdict.signing_time == when
    assert verdict.to_json()["signing_time"] == "2021-06-01T10:30:00+00:00"


def test_extra_certs_are_carried(pki):
    sig = sign_detached(CONTENT, pki.leaf_key, pki.leaf, extra_certs=[pki.inter])
    assert pki.inter.public_bytes(serialization.Encoding.DER) in sig
    assert verify_detached(CONTENT, sig).intact is True


def test_bad_digest_name_is_refused_when_signing(pki):
    with pytest.raises(ValueError, match="unsupported digest"):
        sign_detached(CONTENT, pki.key, pki.cert, digest="md5")


# -- bad input: verdicts, not exceptions ------------------------------------------------------


def test_empty_signature_is_absent():
    verdict = verify_detached(CONTENT, b"")
    assert verdict.present is False and verdict.intact is None


@pytest.mark.parametrize("garbage", [b"not a signature", b"\x30\x03\x02\x01", b"\x00" * 64])
def test_garbage_signature_is_a_verdict(garbage):
    verdict = verify_detached(CONTENT, garbage)
    assert verdict.intact is False
    assert "CMS" in verdict.reason


def test_truncated_signature_is_a_verdict(pki):
    sig = sign_detached(CONTENT, pki.key, pki.cert)
    for cut in (10, len(sig) // 2, len(sig) - 1):
        verdict = verify_detached(CONTENT, sig[:cut])
        assert verdict.intact is False
        assert verdict.reason


def test_unknown_digest_algorithm_is_a_verdict(pki):
    sig = sign_detached(CONTENT, pki.key, pki.cert, digest="sha1")
    # Rewrite the sha1 OID (1.3.14.3.2.26) into md5's (1.2.840.113549.2.5) is not length
    # preserving; use a same-length unknown OID instead: 1.3.14.3.2.27 (DSA-SHA1).
    forged = sig.replace(bytes.fromhex("06052b0e03021a"), bytes.fromhex("06052b0e03021b"))
    verdict = verify_detached(CONTENT, forged)
    assert verdict.intact is False
    assert verdict.reason


def test_enveloped_data_is_not_signed_data():
    from asn1crypto import cms

    blob = cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()
    verdict = verify_detached(CONTENT, blob)
    assert verdict.intact is False and "not signed_data" in verdict.reason
    with pytest.raises(CmsError, match="not signed_data"):
        open_signed_data(blob)


def test_open_signed_data_on_detached_signature(pki):
    with pytest.raises(CmsError, match="no encapsulated content"):
        open_signed_data(sign_detached(CONTENT, pki.key, pki.cert))


@pytest.mark.parametrize("data", [b"", b"<?xml version='1.0'?><a/>", b"MIIB" * 10])
def test_open_signed_data_refuses_non_cms(data):
    with pytest.raises(CmsError):
        open_signed_data(data)


def test_cms_error_is_a_value_error():
    assert issubclass(CmsError, ValueError)


def test_verdict_json_and_absent():
    absent = SignatureVerdict.absent()
    assert absent.to_json() == {
        "present": False, "intact": None, "signer": None, "signing_time": None,
        "trusted": None, "reason": None, "checked_at": None, "validated_at": None,
        "validated_at_source": None, "revocation": None, "qualified": None, "qc": None,
        "trusted_now": None, "trusted_now_reason": None, "timestamp_problem": None,
    }
    with pytest.raises(AttributeError):
        absent.intact = True  # frozen


def _co_signed(pki, second_key) -> bytes:
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(pki.cert, pki.key, hashes.SHA256())
        .add_signer(pki.leaf, second_key, hashes.SHA256())
        .sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])
    )


def test_co_signed_p7m(pki):
    content, verdict = open_signed_data(_co_signed(pki, pki.leaf_key))
    assert content == CONTENT
    assert verdict.intact is True
    # DER sorts the SET OF signer infos: the first one in the file is reported.
    assert verdict.signer in {pki.cert.subject.rfc4514_string(), pki.leaf.subject.rfc4514_string()}


def test_co_signed_p7m_with_one_bad_signature(pki):
    _, verdict = open_signed_data(_co_signed(pki, pki.other_key))
    assert verdict.intact is False
    assert "does not match the signer's public key" in verdict.reason
    assert verdict.signer == pki.leaf.subject.rfc4514_string()  # the broken one is named


def test_signed_data_without_signers_is_absent(pki):
    from asn1crypto import cms

    degenerate = cms.ContentInfo({
        "content_type": "signed_data",
        "content": {
            "version": "v1",
            "digest_algorithms": [],
            "encap_content_info": {"content_type": "data", "content": CONTENT},
            "signer_infos": [],
        },
    }).dump()
    content, verdict = open_signed_data(degenerate)
    assert content == CONTENT
    assert verdict.present is False and "no signer" in verdict.reason


def test_signature_oid_in_digest_algorithm_field_is_tolerated(pki):
    """Some signers write sha256WithRSAEncryption where the sha256 OID belongs."""
    sig = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(CONTENT)
        .add_signer(pki.cert, pki.key, hashes.SHA256())
        .sign(serialization.Encoding.DER,
              [pkcs7.PKCS7Options.DetachedSignature, pkcs7.PKCS7Options.Binary,
               pkcs7.PKCS7Options.NoCapabilities])
    )
    sha256_oid = bytes.fromhex("0609608648016503040201")
    sha256_rsa_oid = bytes.fromhex("06092a864886f70d01010b")
    assert sha256_oid in sig
    quirky = sig.replace(sha256_oid, sha256_rsa_oid)
    verdict = verify_detached(CONTENT, quirky)
    assert verdict.intact is True, verdict.reason
    assert verify_detached(CONTENT + b".", quirky).intact is False
