"""Make CMS SignedData (DER): S/MIME detached signatures and CAdES-style attached `.p7m`.

Used by the PEC builder (provider envelopes and receipts), the sandbox's SdI and the tests.
cryptography's PKCS7SignatureBuilder does the work with the `Binary` option, so the bytes
signed are exactly the bytes given (no S/MIME CRLF canonicalisation behind our back: PEC
verification happens on the exact received bytes).

cryptography refuses SHA-1 for PKCS#7, but PEC providers signed with SHA-1 for years and the
reader must be tested against such signatures; and its builder always stamps "now" as the
signing time, while tests and the sandbox need messages signed in the past (a certificate that
was valid then). For `digest="sha1"` or an explicit `signing_time` the same structure is
assembled here with asn1crypto and signed with cryptography.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from asn1crypto import algos, cms, core
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7

_BUILDER_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
# SHA-1: interoperability with legacy PEC signers, not a choice for new signatures.
_ALL_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"sha1": hashes.SHA1, **_BUILDER_HASHES}
DIGESTS = tuple(_ALL_HASHES)


def sign_detached(
    content: bytes,
    key: Any,
    cert: x509.Certificate,
    *,
    digest: str = "sha256",
    extra_certs: Iterable[x509.Certificate] = (),
    signing_time: datetime | None = None,
) -> bytes:
    """A detached signature (the body of `application/pkcs7-signature`) over `content`."""
    return _sign(content, key, cert, digest, extra_certs, signing_time, detached=True)


def sign_attached(
    content: bytes,
    key: Any,
    cert: x509.Certificate,
    *,
    digest: str = "sha256",
    extra_certs: Iterable[x509.Certificate] = (),
    signing_time: datetime | None = None,
) -> bytes:
    """A SignedData carrying `content` (a CAdES-BES-like `.p7m`, DER)."""
    return _sign(content, key, cert, digest, extra_certs, signing_time, detached=False)


def _sign(
    content: bytes,
    key: Any,
    cert: x509.Certificate,
    digest: str,
    extra_certs: Iterable[x509.Certificate],
    signing_time: datetime | None,
    *,
    detached: bool,
) -> bytes:
    digest = digest.lower().replace("-", "")
    extra = list(extra_certs)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise TypeError("only RSA and EC private keys can sign")
    if digest not in DIGESTS:
        raise ValueError(f"unsupported digest {digest!r}; use one of {DIGESTS}")
    if digest == "sha1" or signing_time is not None:
        return _sign_manual(
            bytes(content), key, cert, extra, digest, signing_time, detached=detached
        )
    hash_alg = _BUILDER_HASHES[digest]()
    builder = pkcs7.PKCS7SignatureBuilder().set_data(bytes(content)).add_signer(
        cert, key, hash_alg
    )
    for extra_cert in extra:
        builder = builder.add_certificate(extra_cert)
    options = [pkcs7.PKCS7Options.Binary]
    if detached:
        options.append(pkcs7.PKCS7Options.DetachedSignature)
    return builder.sign(serialization.Encoding.DER, options)


def _sign_manual(
    content: bytes,
    key: Any,
    cert: x509.Certificate,
    extra: list[x509.Certificate],
    digest: str,
    signing_time: datetime | None,
    *,
    detached: bool,
) -> bytes:
    """The same SignedData as cryptography's builder makes, assembled with asn1crypto."""
    hash_alg = _ALL_HASHES[digest]()
    h = hashes.Hash(hash_alg)
    h.update(content)
    when = signing_time or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValueError("signing_time must be timezone-aware")
    # RFC 5652: UTCTime for 1950-2049, GeneralizedTime otherwise.
    time_value = (
        cms.Time({"utc_time": core.UTCTime(when)})
        if 1950 <= when.year < 2050
        else cms.Time({"general_time": core.GeneralizedTime(when)})
    )
    asn1_cert = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute(
                {
                    "type": "signing_time",
                    "values": [time_value],
                }
            ),
            cms.CMSAttribute({"type": "message_digest", "values": [h.finalize()]}),
        ]
    )
    to_sign = signed_attrs.dump()  # a SET OF: exactly what CMS signs
    if isinstance(key, rsa.RSAPrivateKey):
        signature = key.sign(to_sign, padding.PKCS1v15(), hash_alg)
        sig_algo = "rsassa_pkcs1v15"
    else:
        signature = key.sign(to_sign, ec.ECDSA(hash_alg))
        sig_algo = f"{digest}_ecdsa"
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                        {"issuer": asn1_cert.issuer, "serial_number": asn1_cert.serial_number}
                    )
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": digest}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": sig_algo}),
            "signature": signature,
        }
    )
    encap: dict[str, Any] = {"content_type": "data"}
    if not detached:
        encap["content"] = content
    certificates = [asn1_cert] + [
        asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in extra
    ]
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": digest})],
            "encap_content_info": encap,
            "certificates": certificates,
            "signer_infos": [signer_info],
        }
    )
    return cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump()
