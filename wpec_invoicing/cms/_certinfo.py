"""One view of a certificate for both asn1crypto and cryptography.

Real Italian CAdES files carry certificates that cryptography's strict DER loader refuses
(bad string types, negative serials, trailing bytes). asn1crypto reads them. So every
certificate we meet is parsed once with asn1crypto; cryptography's view is attached when it
loads, and when it does not we still get the public key from the SubjectPublicKeyInfo DER,
which is all a signature check needs. Raw signature checks (for the CMS signer and for
certificates cryptography refused) live here too.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from threading import Lock
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.utils import CryptographyDeprecationWarning

HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha1": hashes.SHA1,
    "sha224": hashes.SHA224,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}

# The short names RFC 4514 (and cryptography) use; others are written as dotted OIDs.
_RFC4514_NAMES = {
    "2.5.4.3": "CN",
    "2.5.4.7": "L",
    "2.5.4.8": "ST",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.9": "STREET",
    "0.9.2342.19200300.100.1.25": "DC",
    "0.9.2342.19200300.100.1.1": "UID",
}


class SignatureCheckError(Exception):
    """A signature does not verify; the message says why in words a user can act on."""


# Some signers write a signature OID (sha256WithRSAEncryption, ...) where a digest OID belongs.
_SIGNATURE_OID_DIGESTS = {
    "1.2.840.113549.1.1.5": "sha1",
    "1.2.840.113549.1.1.14": "sha224",
    "1.2.840.113549.1.1.11": "sha256",
    "1.2.840.113549.1.1.12": "sha384",
    "1.2.840.113549.1.1.13": "sha512",
}


def hash_for(name: str | None) -> hashes.HashAlgorithm:
    """The cryptography hash for an asn1crypto digest name, or SignatureCheckError."""
    name = _SIGNATURE_OID_DIGESTS.get(name or "", name)
    try:
        return HASHES[name or ""]()
    except KeyError:
        raise SignatureCheckError(f"unsupported digest algorithm {name!r}") from None


def name_key(name: asn1_x509.Name) -> str:
    """A comparable key for a Name: asn1crypto's normalized form, or the DER if that fails."""
    try:
        return name.hashable
    except Exception:
        return "der:" + name.dump().hex()


@dataclass(frozen=True, eq=False)
class CertInfo:
    """A parsed certificate: asn1crypto always, cryptography when it accepts the DER."""

    der: bytes
    asn1: asn1_x509.Certificate
    crypto: x509.Certificate | None
    public_key: Any
    fingerprint: bytes
    subject_key: str  # normalized subject, comparable with issuer_key of children
    issuer_key: str
    subject: str  # RFC 4514
    not_before: datetime
    not_after: datetime

    @property
    def self_issued(self) -> bool:
        return self.subject_key == self.issuer_key


def _escape_rfc4514(value: str) -> str:
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)


def name_to_rfc4514(name: asn1_x509.Name) -> str:
    """RFC 4514 string of an asn1crypto Name, written like cryptography writes it."""
    rdns = []
    for rdn in reversed(list(name.chosen)):
        parts = []
        for atv in rdn:
            oid = atv["type"].dotted
            key = _RFC4514_NAMES.get(oid, oid)
            try:
                value = atv["value"].native
            except Exception:
                value = None
            if not isinstance(value, str):
                parts.append(f"{key}=#{atv['value'].dump().hex()}")
            else:
                parts.append(f"{key}={_escape_rfc4514(value)}")
        rdns.append("+".join(parts))
    return ",".join(rdns)


_CACHE: OrderedDict[bytes, CertInfo] = OrderedDict()
_CACHE_LOCK = Lock()
_CACHE_SIZE = 2048


def cert_info(asn1_cert: asn1_x509.Certificate) -> CertInfo:
    """Parse a certificate once (cached by DER: providers sign thousands of receipts with one)."""
    der = asn1_cert.dump()
    with _CACHE_LOCK:
        hit = _CACHE.get(der)
        if hit is not None:
            _CACHE.move_to_end(der)
            return hit
    info = _build(der, asn1_cert)
    with _CACHE_LOCK:
        _CACHE[der] = info
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return info


def cert_info_from_crypto(cert: x509.Certificate) -> CertInfo:
    der = cert.public_bytes(serialization.Encoding.DER)
    return cert_info(asn1_x509.Certificate.load(der))


def _build(der: bytes, asn1_cert: asn1_x509.Certificate) -> CertInfo:
    crypto: x509.Certificate | None
    try:
        with warnings.catch_warnings():
            # e.g. negative serial numbers: tolerated (real CAs issued them), not shouted about.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            crypto = x509.load_der_x509_certificate(der)
        public_key = crypto.public_key()
        subject = crypto.subject.rfc4514_string()
        not_before = crypto.not_valid_before_utc
        not_after = crypto.not_valid_after_utc
    except Exception:
        # Strict parsing failed: fall back to asn1crypto for everything, and load only the
        # public key from the SubjectPublicKeyInfo DER.
        crypto = None
        tbs = asn1_cert["tbs_certificate"]
        public_key = serialization.load_der_public_key(tbs["subject_public_key_info"].dump())
        subject = name_to_rfc4514(tbs["subject"])
        validity = tbs["validity"]
        not_before = validity["not_before"].native
        not_after = validity["not_after"].native
    tbs = asn1_cert["tbs_certificate"]
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return CertInfo(
        der=der,
        asn1=asn1_cert,
        crypto=crypto,
        public_key=public_key,
        fingerprint=digest.finalize(),
        subject_key=name_key(tbs["subject"]),
        issuer_key=name_key(tbs["issuer"]),
        subject=subject,
        not_before=not_before,
        not_after=not_after,
    )


def check_signature(
    public_key: Any,
    signature: bytes,
    data: bytes,
    sig_algo: Any,
    digest_name: str | None,
) -> None:
    """Check `signature` over `data` with an asn1crypto SignedDigestAlgorithm.

    `digest_name` is the digest to use when the algorithm identifier does not name one
    (plain rsaEncryption in CMS signer infos). Raises SignatureCheckError with a reason.
    """
    try:
        algo = sig_algo.signature_algo
    except Exception as exc:
        raise SignatureCheckError(f"unsupported signature algorithm: {exc}") from None
    if algo == "rsassa_pss":
        params = sig_algo["parameters"]
        hash_name = params["hash_algorithm"]["algorithm"].native
        mgf = params["mask_gen_algorithm"]
        mgf_hash_name = mgf["parameters"]["algorithm"].native if mgf["parameters"] else "sha1"
        pad: padding.AsymmetricPadding = padding.PSS(
            mgf=padding.MGF1(hash_for(mgf_hash_name)), salt_length=params["salt_length"].native
        )
        hash_alg = hash_for(hash_name)
    else:
        try:
            hash_name = sig_algo.hash_algo
        except Exception:
            hash_name = digest_name
        if hash_name is None:
            raise SignatureCheckError("signature algorithm names no digest")
        hash_alg = hash_for(hash_name)
        pad = padding.PKCS1v15()
    try:
        if algo in ("rsassa_pkcs1v15", "rsassa_pss"):
            if not isinstance(public_key, rsa.RSAPublicKey):
                raise SignatureCheckError(f"{algo} signature but the certificate key is not RSA")
            public_key.verify(signature, data, pad, hash_alg)
        elif algo == "ecdsa":
            if not isinstance(public_key, ec.EllipticCurvePublicKey):
                raise SignatureCheckError("ECDSA signature but the certificate key is not EC")
            public_key.verify(signature, data, ec.ECDSA(hash_alg))
        else:
            raise SignatureCheckError(f"unsupported signature algorithm {algo!r}")
    except InvalidSignature:
        raise SignatureCheckError(
            "signature does not match the signer's public key"
        ) from None
    except (UnsupportedAlgorithm, ValueError, TypeError) as exc:
        raise SignatureCheckError(f"signature cannot be checked: {exc}") from None
