"""Judge an intact signer: at which time, trusted then and now, revoked or not, qualified.

Why a module of its own: `verify.py` proves the bytes match the key; everything that gives
that fact a meaning for a user is decided here, once, for S/MIME envelopes and `.p7m`
invoices alike:

- the time the certificate is judged at: the signature timestamp token (RFC 3161, an
  unsigned attribute) when it is intact, matches this signature and (with a trust store)
  comes from a trusted authority; else the signingTime attribute (only claimed by the
  signer, and reported as such); else the time of the check. `validated_at_source` says
  which;
- trust at that time (the chain, every certificate valid then) and trust now (reported too:
  a certificate that expired since is normal, one that was revoked is not);
- revocation, asked of the `RevocationChecker` the trust store carries, under the policy of
  this use (`pec` or `invoice`); a revoked certificate or (hard-fail) an unknown status
  makes the signature untrusted, with the reason in words;
- qualified: the signer certificate's QcStatements (QcCompliance).

Pure: the checker is the only door to the outside, and it is handed in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from threading import Lock
from typing import TYPE_CHECKING, Any

from ._certinfo import CertInfo
from .qualified import QcInfo, qc_info
from .revocation import RevocationPolicy, embedded_revinfo

if TYPE_CHECKING:
    from cryptography import x509

    from .trust import TrustStore

# (token DER, the signature it stamps, trust, use) -> (genTime, None) or (None, why)
TokenCheck = Callable[[bytes, bytes, Any, str], "tuple[datetime | None, str | None]"]

SIGNATURE_TIMESTAMP_TOKEN = "1.2.840.113549.1.9.16.2.14"  # noqa: S105 - an OID

_QC_CACHE: OrderedDict[bytes, QcInfo] = OrderedDict()
_QC_LOCK = Lock()


def qc_for(cert: CertInfo) -> QcInfo:
    """The certificate's QcStatements (cached: providers sign thousands with one cert)."""
    with _QC_LOCK:
        hit = _QC_CACHE.get(cert.fingerprint)
    if hit is not None:
        return hit
    info = qc_info(cert.asn1)
    with _QC_LOCK:
        _QC_CACHE[cert.fingerprint] = info
        if len(_QC_CACHE) > 2048:
            _QC_CACHE.popitem(last=False)
    return info


def judge_signer(
    verdict: Any,  # a verify.SignatureVerdict (not imported: verify imports this module)
    *,
    signed_data: Any,
    signer_info: Any,
    cert: CertInfo,
    carried: list[CertInfo],
    trust: TrustStore | None,
    use: str,
    check_token: TokenCheck | None = None,
) -> Any:
    """`verdict` (intact) completed with times, trust, revocation and qualification.

    `check_token` verifies a signature timestamp token (`verify.check_timestamp_token`): it is
    handed in, not imported, because verifying a token is verifying a CMS signature and
    `verify` calls this module (no import cycle)."""
    now = datetime.now(UTC)
    qc = qc_for(cert)
    ts_time, ts_problem = (signature_timestamp(signer_info, trust, use, check_token)
                           if signer_info is not None else (None, None))
    if ts_time is not None:
        when, source = ts_time, "timestamp"
    elif verdict.signing_time is not None:
        when, source = verdict.signing_time, "signing_time"
    else:
        when, source = now, "check_time"
    at = None if source == "check_time" else when
    trusted: bool | None = None
    reason: str | None = None
    trusted_now: bool | None = None
    now_reason: str | None = None
    revocation = None
    if trust is not None:
        try:
            trusted, reason = trust.judge(cert, carried, at, use)
            if at is None:
                trusted_now, now_reason = trusted, reason
            else:
                trusted_now, now_reason = trust.judge(cert, carried, None, use)
        except Exception as exc:
            trusted, reason = False, f"trust chain cannot be checked: {_short(exc)}"
        checker = trust.revocation
        if trusted and checker is not None:
            try:
                policy = checker.policy_for(use)
                if policy != RevocationPolicy.OFF:
                    chain = trust.chain(cert, carried, use)
                    embedded = (embedded_revinfo(signed_data, signer_info)
                                if signer_info is not None else None)
                    status = checker.check(chain, use=use, embedded=embedded)
                    revocation = status.at(at, policy)
                    if revocation.failed:
                        trusted, reason = False, revocation.explain()
                    if revocation.status == "revoked":
                        trusted_now, now_reason = False, revocation.explain()
            except Exception as exc:  # the checker promises not to raise; be safe anyway
                from .revocation import UNKNOWN, RevocationStatus

                revocation = RevocationStatus(
                    UNKNOWN, checked_at=now, detail=f"revocation check failed: {_short(exc)}",
                ).at(at, checker.policy_for(use))
                if revocation.failed:
                    trusted, reason = False, revocation.explain()
    if trust is None:
        # Nothing was checked against a time: keep the report the same from run to run.
        now_or_none, when_or_none = None, at
    else:
        now_or_none, when_or_none = now, when
    return replace(
        verdict,
        trusted=trusted,
        reason=reason,
        checked_at=now_or_none,
        validated_at=when_or_none,
        validated_at_source=source,
        revocation=revocation,
        qualified=qc.qualified,
        qc=qc.to_json(),
        trusted_now=trusted_now,
        trusted_now_reason=now_reason,
        timestamp_problem=ts_problem,
    )


def judge_certificate(
    verdict: Any,  # a verify.SignatureVerdict (not imported: verify imports this module)
    cert: x509.Certificate,
    intermediates: list[x509.Certificate],
    trust: TrustStore | None,
    use: str = "invoice",
) -> Any:
    """The same judgement for a signature that is not CMS (an XAdES invoice): trust at the
    claimed signing time and now, revocation, qualified; no timestamp token is read."""
    from ._certinfo import cert_info_from_crypto

    return judge_signer(
        verdict, signed_data=None, signer_info=None, cert=cert_info_from_crypto(cert),
        carried=[cert_info_from_crypto(c) for c in intermediates], trust=trust, use=use,
    )


def signature_timestamp(
    signer_info: Any, trust: TrustStore | None, use: str, check_token: TokenCheck | None = None
) -> tuple[datetime | None, str | None]:
    """(genTime, None) of a usable signature timestamp token, (None, why) of an unusable one,
    (None, None) when there is none."""
    try:
        unsigned = signer_info["unsigned_attrs"]
        if unsigned.native is None:
            return None, None
        token = None
        for attr in unsigned:
            if attr["type"].dotted == SIGNATURE_TIMESTAMP_TOKEN and len(attr["values"]):
                token = attr["values"][0]
                break
        if token is None:
            return None, None
    except Exception as exc:
        return None, f"unsigned attributes unreadable: {_short(exc)}"
    if check_token is None:
        return None, "timestamp token present but not checked here"
    try:
        return check_token(token.dump(), signer_info["signature"].native, trust, use)
    except Exception as exc:
        return None, f"timestamp token unreadable: {_short(exc)}"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


__all__ = ["judge_certificate", "judge_signer", "qc_for", "signature_timestamp"]
