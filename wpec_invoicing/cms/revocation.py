"""Revocation verdicts, policies, and the checker interface the signature check calls.

Why here and pure: the CMS check (`verify.py`) must say whether the signer's certificate was
revoked, but fetching CRLs and OCSP answers is network and disk work, which the formats layer
never does. So the check only knows this interface: a `RevocationChecker` is handed in (on
the `TrustStore`, see `TrustStore.with_revocation`), asked about one certificate path, and
answers a `RevocationStatus` value. The service that really fetches lives in
`wpec_invoicing.trust`.

Statuses (what a user reads in every signature report):
- `good`: CRL or OCSP says not revoked (as of `checked_at`);
- `revoked`: with the date and the CRL reason; `after_signing` says it happened after the
  time the signature was judged at (then the signature was made while the certificate was
  good, and it is reported but not a failure);
- `unknown`: with why (responder down, no address in the certificate, stale data offline...).

Policy, per use (`pec` receipts and envelopes, `invoice` signatures):
- `off`: not checked (no `revocation` in the report);
- `soft-fail`: `unknown` is a warning, the signature keeps its trust verdict;
- `hard-fail`: `unknown` makes the signature untrusted.
`revoked` (before the signing time) is always a failure unless the policy is `off`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from asn1crypto import core, crl, ocsp

if TYPE_CHECKING:
    from ._certinfo import CertInfo

GOOD = "good"
REVOKED = "revoked"
UNKNOWN = "unknown"

# The two uses the product distinguishes: PEC messages (receipts, envelopes) and invoices.
USE_PEC = "pec"
USE_INVOICE = "invoice"


class RevocationPolicy(StrEnum):
    HARD_FAIL = "hard-fail"
    SOFT_FAIL = "soft-fail"
    OFF = "off"


@dataclass(frozen=True)
class RevocationStatus:
    """What CRL/OCSP said about a certificate path (the first problem nearest the signer)."""

    status: str  # good | revoked | unknown
    checked_at: datetime | None = field(default=None, compare=False)
    revoked_at: datetime | None = None
    reason: str | None = None  # CRL reason (key_compromise, ...) when revoked
    detail: str | None = None  # why unknown, or which certificate was revoked (words)
    source: str | None = None  # ocsp | crl | cache | embedded
    policy: str | None = None
    after_signing: bool | None = None  # revoked after the time the signature was judged at

    @property
    def failed(self) -> bool:
        """True when this status makes the signature untrusted under its policy."""
        if self.policy == RevocationPolicy.OFF:
            return False
        if self.status == REVOKED:
            return not self.after_signing
        if self.status == UNKNOWN:
            return self.policy == RevocationPolicy.HARD_FAIL
        return False

    def at(self, when: datetime | None, policy: str) -> RevocationStatus:
        """This status judged for a signature made at `when` under `policy`."""
        after = None
        if self.status == REVOKED and self.revoked_at is not None and when is not None:
            after = self.revoked_at > when
        return replace(self, policy=str(policy), after_signing=after)

    def explain(self) -> str:
        """One line a user reads: why this status fails (or what it is)."""
        if self.status == REVOKED:
            when = self.revoked_at.isoformat() if self.revoked_at else "an unknown date"
            why = f" ({self.reason})" if self.reason else ""
            who = self.detail or "certificate"
            return f"{who} revoked on {when}{why}"
        if self.status == UNKNOWN:
            return f"revocation status unknown ({self.policy}): {self.detail or 'no answer'}"
        return "not revoked"

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "reason": self.reason,
            "detail": self.detail,
            "source": self.source,
            "policy": self.policy,
            "after_signing": self.after_signing,
        }


@dataclass(frozen=True)
class EmbeddedRevinfo:
    """CRLs and OCSP responses carried inside the signature (CAdES -X-L / SignedData.crls)."""

    crls: tuple[bytes, ...] = ()
    ocsps: tuple[bytes, ...] = ()


class RevocationChecker(Protocol):
    """What the signature check needs from the revocation service."""

    def policy_for(self, use: str) -> RevocationPolicy:
        """The policy configured for `use` (`pec` or `invoice`)."""
        ...

    def check(
        self, path: Sequence[CertInfo], *, use: str, embedded: EmbeddedRevinfo | None = None
    ) -> RevocationStatus:
        """The status, as of now, of `path` (signer first, trust anchor last). Never raises."""
        ...


# id-aa-ets-revocationValues (RFC 5126): CRLs and OCSP responses in an unsigned attribute.
_REVOCATION_VALUES = "1.2.840.113549.1.9.16.2.24"


class _CrlVals(core.SequenceOf):
    _child_spec = crl.CertificateList


class _OcspVals(core.SequenceOf):
    _child_spec = ocsp.BasicOCSPResponse


class _RevocationValues(core.Sequence):
    """RFC 5126 RevocationValues (explicit tags)."""

    _fields = [  # noqa: RUF012 - asn1crypto's declaration style
        ("crl_vals", _CrlVals, {"explicit": 0, "optional": True}),
        ("ocsp_vals", _OcspVals, {"explicit": 1, "optional": True}),
        ("other_rev_vals", core.Any, {"explicit": 2, "optional": True}),
    ]


def embedded_revinfo(signed_data: Any, signer_info: Any) -> EmbeddedRevinfo:
    """The CRLs (SignedData.crls, revocationValues) and OCSP responses a signature carries."""
    crls: list[bytes] = []
    ocsps: list[bytes] = []
    try:
        choices = signed_data["crls"]
        if choices.native is not None:
            for choice in choices:
                if choice.name == "crl":
                    crls.append(choice.chosen.dump())
                elif choice.name == "other":
                    other = choice.chosen
                    # id-ri-ocsp-response (RFC 5940)
                    if other["other_rev_info_format"].dotted == "1.3.6.1.5.5.7.16.2":
                        ocsps.append(other["other_rev_info"].dump())
    except Exception:  # noqa: S110 - damaged optional data: as if absent
        pass
    try:
        unsigned = signer_info["unsigned_attrs"]
        if unsigned.native is not None:
            for attr in unsigned:
                if attr["type"].dotted != _REVOCATION_VALUES:
                    continue
                for value in attr["values"]:
                    crls.extend(_revocation_values(value, "crlVals"))
                    ocsps.extend(_revocation_values(value, "ocspVals"))
    except Exception:  # noqa: S110 - damaged optional data: as if absent
        pass
    return EmbeddedRevinfo(tuple(crls), tuple(ocsps))


def _revocation_values(value: Any, which: str) -> list[bytes]:
    """The DER items of RevocationValues' crlVals [0] or ocspVals [1] (as OCSPResponse)."""
    parsed = _RevocationValues.load(value.dump())
    if which == "crlVals":
        items = parsed["crl_vals"]
        return [] if items.native is None else [c.dump() for c in items]
    items = parsed["ocsp_vals"]
    return [] if items.native is None else [_wrap_basic_ocsp(b.dump()) for b in items]


def _wrap_basic_ocsp(basic_der: bytes) -> bytes:
    """An OCSPResponse (successful, id-pkix-ocsp-basic) around a BasicOCSPResponse."""
    basic = ocsp.BasicOCSPResponse.load(basic_der)
    return ocsp.OCSPResponse({
        "response_status": "successful",
        "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
    }).dump()


def merge(statuses: Sequence[RevocationStatus]) -> RevocationStatus:
    """The worst of several statuses (revoked > unknown > good), for one verdict."""
    order = {REVOKED: 0, UNKNOWN: 1, GOOD: 2}
    return sorted(statuses, key=lambda s: order.get(s.status, 3))[0]


__all__ = [
    "GOOD",
    "REVOKED",
    "UNKNOWN",
    "USE_INVOICE",
    "USE_PEC",
    "EmbeddedRevinfo",
    "RevocationChecker",
    "RevocationPolicy",
    "RevocationStatus",
    "embedded_revinfo",
]
