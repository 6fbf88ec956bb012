"""Verify CMS SignedData: S/MIME detached signatures and CAdES attached `.p7m` files.

cryptography signs PKCS#7 but has no public verify API, so the CMS structure is parsed with
asn1crypto (which also tolerates certificates that break strict parsers) and every check is
done with cryptography: the messageDigest attribute against the content, then the signature
over the DER of the signed attributes, then (optionally) the issuer chain via `TrustStore`.

Errors are values here: a forged, tampered, truncated or unreadable signature is a verdict
with a reason, never an exception, because one bad message must not stop a batch.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from asn1crypto import cms, core
from cryptography.hazmat.primitives import hashes

from ._certinfo import (
    CertInfo,
    SignatureCheckError,
    cert_info,
    check_signature,
    hash_for,
    name_key,
)

if TYPE_CHECKING:
    from .revocation import RevocationStatus
    from .trust import TrustStore


# The reason prefix of a verdict reached through a last-line-of-defence catch: a bug in this
# code (an unexpected exception), never an expected verdict on bad input. Fuzz tests assert
# it is never reached.
INTERNAL_ERROR = "internal error: "


class CmsError(ValueError):
    """The bytes are not a CMS SignedData we can open (not a verdict: there is nothing to judge)."""


@dataclass(frozen=True)
class SignatureVerdict:
    """What a signature check found; `intact` and `trusted` are separate on purpose.

    A signature can be mathematically intact and still prove nothing (a self-made
    certificate), so trust is its own verdict, and None when no trust store is configured.
    """

    present: bool
    intact: bool | None
    signer: str | None = None
    signing_time: datetime | None = None
    trusted: bool | None = None
    reason: str | None = None
    digest_algorithm: str | None = None
    # Issue 16: when the check ran, the time the signer's certificate was judged at (and
    # where that time came from), the revocation status, whether the certificate is
    # qualified, and whether it is still trusted now (see `judgement.py`).
    checked_at: datetime | None = field(default=None, compare=False)  # differs every run
    validated_at: datetime | None = None
    validated_at_source: str | None = None  # timestamp | signing_time | check_time
    revocation: RevocationStatus | None = None
    qualified: bool | None = None
    qc: dict[str, Any] | None = None
    trusted_now: bool | None = None
    trusted_now_reason: str | None = None
    timestamp_problem: str | None = None

    @classmethod
    def absent(cls, reason: str | None = None) -> SignatureVerdict:
        """The verdict for "there is no signature" (intact and trusted unknown)."""
        return cls(present=False, intact=None, reason=reason)

    @property
    def internal_error(self) -> bool:
        """True when the check crashed internally (a bug here, not a verdict on the input)."""
        return bool(self.reason) and self.reason.startswith(INTERNAL_ERROR)  # type: ignore[union-attr]

    def to_json(self) -> dict[str, Any]:
        return {
            "present": self.present,
            "intact": self.intact,
            "signer": self.signer,
            "signing_time": self.signing_time.isoformat() if self.signing_time else None,
            "trusted": self.trusted,
            "reason": self.reason,
            "checked_at": self.checked_at.isoformat() if self.checked_at else None,
            "validated_at": self.validated_at.isoformat() if self.validated_at else None,
            "validated_at_source": self.validated_at_source,
            "revocation": self.revocation.to_json() if self.revocation else None,
            "qualified": self.qualified,
            "qc": self.qc,
            "trusted_now": self.trusted_now,
            "trusted_now_reason": self.trusted_now_reason,
            "timestamp_problem": self.timestamp_problem,
        }


@dataclass
class _Parsed:
    signed_data: Any
    content: bytes | None  # encapsulated content, None when detached


def _parse(data: bytes) -> _Parsed:
    """Parse a ContentInfo(SignedData), or raise CmsError saying what it is instead."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise CmsError("signature data is not bytes")
    data = bytes(data)
    if not data:
        raise CmsError("empty data: no CMS SignedData")
    try:
        info = cms.ContentInfo.load(data)
        content_type = info["content_type"].native
    except Exception as exc:
        raise CmsError(f"not a CMS structure (DER/BER ContentInfo): {_short(exc)}") from None
    if content_type != "signed_data":
        raise CmsError(f"CMS content type is {content_type!r}, not signed_data")
    try:
        signed_data = info["content"]
        encap = signed_data["encap_content_info"]
        inner = encap["content"]
        content = None if _absent(inner) else _content_bytes(inner)
        # Parse the signer list (shallowly) so that gross damage shows up here.
        len(signed_data["signer_infos"])
    except CmsError:
        raise
    except Exception as exc:
        raise CmsError(f"damaged CMS SignedData: {_short(exc)}") from None
    return _Parsed(signed_data=signed_data, content=content)


def _content_bytes(inner: Any) -> bytes:
    """The eContent octets (BER constructed OCTET STRINGs are joined by asn1crypto)."""
    value = inner.native
    if isinstance(value, bytes):
        return value
    # eContent that asn1crypto parsed into a structure: hand back its octets unchanged.
    return bytes(inner)


def _absent(value: Any) -> bool:
    """An OPTIONAL field that is not there (cheap: no decoding to native values)."""
    return isinstance(value, core.Void)


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _find_signer_cert(signed_data: Any, sid: Any) -> tuple[CertInfo | None, list[CertInfo]]:
    """The signer's certificate (by issuer+serial or subject key id) and all carried certs."""
    carried: list[CertInfo] = []
    certificates = signed_data["certificates"]
    if not _absent(certificates):
        for choice in certificates:
            if choice.name != "certificate":
                continue
            try:
                carried.append(cert_info(choice.chosen))
            except Exception:  # noqa: S112 - an unreadable extra cert must not sink the check
                continue
    wanted = sid.chosen
    if sid.name == "issuer_and_serial_number":
        # The DER of issuer and serial, compared as bytes: a signer copies both from its
        # certificate, so this finds it without building normalised names (which cost more
        # than the signature check). Only when no DER matches are names compared normalised
        # (a signer that re-encoded the issuer, e.g. PrintableString as UTF8String).
        issuer_der = wanted["issuer"].dump()
        serial_der = wanted["serial_number"].dump()
        for info in carried:
            tbs = info.asn1["tbs_certificate"]
            if tbs["serial_number"].dump() == serial_der and tbs["issuer"].dump() == issuer_der:
                return info, carried
        serial = wanted["serial_number"].native
        issuer_key = name_key(wanted["issuer"])
        for info in carried:
            if (info.issuer_key == issuer_key
                    and info.asn1["tbs_certificate"]["serial_number"].native == serial):
                return info, carried
        return None, carried
    for info in carried:
        try:
            if info.asn1.key_identifier == wanted.native:
                return info, carried
        except Exception:  # noqa: S112 - a broken extension just means "not this one"
            continue
    return None, carried


def _attr(signed_attrs: Any, name: str) -> Any:
    for attr in signed_attrs:
        if attr["type"].native == name:
            values = attr["values"]
            return values[0] if len(values) else None
    return None


def _check(
    parsed: _Parsed, content: bytes | bytearray | memoryview, trust: TrustStore | None,
    use: str = "pec",
) -> SignatureVerdict:
    """Judge every signer of a parsed SignedData against `content`.

    The verdict describes the first signer, unless another signer's signature is broken:
    then that one (a co-signed invoice is intact only if every signature is).
    """
    signer_infos = parsed.signed_data["signer_infos"]
    count = len(signer_infos)
    if count == 0:
        return SignatureVerdict.absent("CMS SignedData carries no signer")
    first = _check_signer(parsed, 0, content, trust, use)
    if first.intact is False:
        return first
    for index in range(1, count):
        other = _check_signer(parsed, index, content, None)
        if other.intact is False:
            return replace(other, reason=f"signer {index + 1} of {count}: {other.reason}")
    return first


def _check_signer(
    parsed: _Parsed, index: int, content: bytes | bytearray | memoryview,
    trust: TrustStore | None, use: str = "pec",
) -> SignatureVerdict:
    signer: str | None = None
    signing_time: datetime | None = None
    digest_name: str | None = None

    def fail(reason: str) -> SignatureVerdict:
        return SignatureVerdict(
            present=True,
            intact=False,
            signer=signer,
            signing_time=signing_time,
            trusted=None,
            reason=reason,
            digest_algorithm=digest_name,
        )

    try:
        # asn1crypto parses lazily: a damaged SignerInfo raises on first access, here
        si = parsed.signed_data["signer_infos"][index]
        digest_name = si["digest_algorithm"]["algorithm"].native
        cert, carried = _find_signer_cert(parsed.signed_data, si["sid"])
        if cert is not None:
            signer = cert.subject
        signed_attrs = si["signed_attrs"]
        has_attrs = not _absent(signed_attrs)
        if has_attrs:
            st = _attr(signed_attrs, "signing_time")
            if st is not None:
                value = st.native
                if isinstance(value, datetime) and value.tzinfo is not None:
                    signing_time = value
        hash_alg = hash_for(digest_name)
        if cert is None:
            return fail("signer certificate not found in the CMS (no matching issuer+serial "
                        "or subject key identifier)")
        if has_attrs:
            expected = _attr(signed_attrs, "message_digest")
            if expected is None:
                return fail("signed attributes lack the messageDigest attribute")
            h = hashes.Hash(hash_alg)
            h.update(content)
            if not hmac.compare_digest(h.finalize(), expected.native):
                return fail(f"content does not match the signed {digest_name} messageDigest "
                            "(content altered or signature for other content)")
            declared = _attr(signed_attrs, "content_type")
            actual = parsed.signed_data["encap_content_info"]["content_type"]
            if declared is not None and declared.dotted != actual.dotted:
                return fail(f"signed contentType {declared.dotted} differs from the "
                            f"content's type {actual.dotted}")
            # CMS: the signature covers the DER of the attributes with the SET OF tag, not
            # the [0] IMPLICIT tag they carry in the SignerInfo.
            body = signed_attrs.contents
            signed_bytes = b"\x31" + _der_length(len(body)) + body
        else:
            signed_bytes = content
        check_signature(
            cert.public_key,
            si["signature"].native,
            signed_bytes,
            si["signature_algorithm"],
            digest_name,
        )
    except SignatureCheckError as exc:
        return fail(str(exc))
    except Exception as exc:
        return fail(f"damaged signer information: {_short(exc)}")
    from .judgement import judge_signer

    return judge_signer(
        SignatureVerdict(
            present=True,
            intact=True,
            signer=signer,
            signing_time=signing_time,
            digest_algorithm=digest_name,
        ),
        signed_data=parsed.signed_data, signer_info=si, cert=cert, carried=carried,
        trust=trust, use=use, check_token=check_timestamp_token,
    )


def check_timestamp_token(
    token_der: bytes, signature: bytes, trust: TrustStore | None, use: str
) -> tuple[datetime | None, str | None]:
    """(genTime, None) when the RFC 3161 token stamps `signature` and is signed by a trusted
    authority, else (None, why)."""
    from asn1crypto import tsp

    from ._certinfo import hash_for

    try:
        parsed = _parse(token_der)
    except CmsError as exc:
        return None, f"timestamp token: {exc}"
    if parsed.content is None:
        return None, "timestamp token carries no TSTInfo"
    tst = tsp.TSTInfo.load(parsed.content)
    imprint = tst["message_imprint"]
    digest = hashes.Hash(hash_for(imprint["hash_algorithm"]["algorithm"].native))
    digest.update(signature)
    if not hmac.compare_digest(digest.finalize(), imprint["hashed_message"].native):
        return None, "timestamp token is for another signature (message imprint differs)"
    # The authority's own signature; its trust without revocation (a timestamp authority's
    # certificate is judged like the chain, not fetched for every message).
    plain = trust.with_revocation(None) if trust is not None else None
    inner = _check(parsed, parsed.content, plain, use)
    if inner.intact is not True:
        return None, f"timestamp token signature: {inner.reason}"
    if inner.trusted is False:
        return None, f"timestamp authority not trusted: {inner.reason}"
    gen_time = tst["gen_time"].native
    if not isinstance(gen_time, datetime) or gen_time.tzinfo is None:
        return None, "timestamp token has no usable genTime"
    return gen_time, None



def verify_detached(
    content: bytes | bytearray | memoryview, signature: bytes, *, trust: TrustStore | None = None,
    use: str = "pec",
) -> SignatureVerdict:
    """Verify a detached (S/MIME `application/pkcs7-signature`) signature over `content`.

    Never raises on bad input: empty signature → absent; anything unreadable → present but
    not intact, with a reason. If the CMS unexpectedly carries its own content, the signature
    is still checked against `content` (the bytes actually received).
    """
    try:
        if not signature:
            return SignatureVerdict.absent("no signature data")
        if not isinstance(content, bytes | bytearray | memoryview):
            return SignatureVerdict(present=True, intact=False,
                                    reason="signed content is not bytes")
        try:
            parsed = _parse(signature)
        except CmsError as exc:
            return SignatureVerdict(present=True, intact=False, reason=str(exc))
        # hashed and verified in place: a memoryview of a 50 MB message is never copied
        return _check(parsed, content, trust, use)
    except Exception as exc:  # last line of defence: a verdict, never a crash
        return SignatureVerdict(
            present=True, intact=False,
            reason=f"{INTERNAL_ERROR}signature cannot be checked: {type(exc).__name__}: "
                   f"{_short(exc)}",
        )


def open_signed_data(
    data: bytes, *, trust: TrustStore | None = None, use: str = "invoice"
) -> tuple[bytes, SignatureVerdict]:
    """Open an attached CMS SignedData (CAdES `.p7m`, DER or BER): (content, verdict).

    The content is returned even when the signature is broken (the caller decides, e.g. a
    lenient import). Raises CmsError only when the bytes are not a SignedData at all, or when
    it carries no content (a detached signature: use `verify_detached`).
    """
    parsed = _parse(data)
    if parsed.content is None:
        raise CmsError(
            "CMS SignedData has no encapsulated content (a detached signature, not a .p7m)"
        )
    try:
        verdict = _check(parsed, parsed.content, trust, use)
    except Exception as exc:  # last line of defence: a verdict, never a crash
        verdict = SignatureVerdict(
            present=True, intact=False,
            reason=f"{INTERNAL_ERROR}signature cannot be checked: {type(exc).__name__}: "
                   f"{_short(exc)}",
        )
    return parsed.content, verdict
