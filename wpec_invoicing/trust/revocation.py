"""The revocation service: CRL and OCSP for every certificate of a path, cached, with policy.

Why pyhanko-certvalidator: RFC 5280 path validation with CRL scope and issuer checks, OCSP
responder authorisation, freshness windows and revocation reasons is exactly what must not be
hand-written; the library is the maintained fork of certvalidator used by pyHanko for PAdES.
We hand it the path our `TrustStore` built (trust anchor = its last certificate) and our own
fetchers (`fetchers.py`), and translate its answer into a `RevocationStatus`:

- validated with revocation data required for every certificate → `good`;
- `RevokedError` → `revoked` (date, CRL reason, which certificate);
- not enough revocation data (responder down, no address, stale while offline) → `unknown`
  with the library's words and the fetch failures.

The answer is the status *as of now*; the signature check compares a revocation date with
the signing time itself (`RevocationStatus.at`). It is kept (memory and `verdicts.json`)
until the earliest nextUpdate of the data it rests on; an `unknown` for a minute only, so a
batch does not wait on a dead responder for every message but the next run asks again.

pyhanko-certvalidator is imported only when a path must really be validated: a warm run
answers from the verdict cache without loading it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wpec_invoicing.cms.revocation import (
    GOOD,
    REVOKED,
    UNKNOWN,
    EmbeddedRevinfo,
    RevocationPolicy,
    RevocationStatus,
)

from .cache import NO_NEXT_UPDATE_TTL, RevinfoCache, crl_next_update, ocsp_next_update
from .http import HttpFetcher, HttpLimits

if TYPE_CHECKING:
    from wpec_invoicing.cms._certinfo import CertInfo

UNKNOWN_TTL = timedelta(minutes=1)
_ONE_SECOND = timedelta(seconds=1)


@dataclass(frozen=True)
class RevocationSettings:
    """Policy per use, offline mode, where the cache lives, network limits."""

    policies: Mapping[str, RevocationPolicy] = field(default_factory=dict)
    offline: bool = False
    cache_dir: Path | None = None
    limits: HttpLimits = field(default_factory=HttpLimits)
    default_policy: RevocationPolicy = RevocationPolicy.SOFT_FAIL


class RevocationService:
    """A `cms.revocation.RevocationChecker` backed by the network and the disk cache."""

    def __init__(self, settings: RevocationSettings) -> None:
        self.settings = settings
        self.cache = RevinfoCache(settings.cache_dir)
        self._http: HttpFetcher | None = None
        self._lock = threading.Lock()
        self._memory: dict[str, RevocationStatus] = {}
        self._memory_until: dict[str, datetime] = {}

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def policy_for(self, use: str) -> RevocationPolicy:
        return RevocationPolicy(self.settings.policies.get(use, self.settings.default_policy))

    # -- the check -------------------------------------------------------------------
    def check(
        self, path: Sequence[CertInfo], *, use: str = "pec",
        embedded: EmbeddedRevinfo | None = None,
    ) -> RevocationStatus:
        try:
            return self._check(path, embedded)
        except Exception as exc:  # a verdict, never a crash
            return RevocationStatus(UNKNOWN, checked_at=datetime.now(UTC),
                                    detail=f"revocation check failed: {type(exc).__name__}: "
                                           f"{exc}")

    def _check(self, path: Sequence[CertInfo],
               embedded: EmbeddedRevinfo | None) -> RevocationStatus:
        if not path:
            return RevocationStatus(UNKNOWN, checked_at=datetime.now(UTC),
                                    detail="no certificate path to check")
        key = _path_key(path, embedded)
        hit = self._memory.get(key)
        if hit is not None and _still_valid(hit, self._memory_until.get(key)):
            return hit
        kept = self.cache.verdict(key)
        if kept is not None:
            status = _from_json(kept)
            self._remember(key, status, datetime.fromisoformat(kept["valid_until"]))
            return status
        if len(path) == 1:
            status = RevocationStatus(
                UNKNOWN, checked_at=datetime.now(UTC),
                detail="the signer's certificate is itself in the trust store: there is no "
                       "issuer to ask about it",
            )
            self._remember(key, status, datetime.now(UTC) + NO_NEXT_UPDATE_TTL)
            return status
        with self._lock:
            status, until = self._validate(path, embedded)
        persist = not (status.status == UNKNOWN and self.settings.offline)
        self._remember(key, status, until)
        self.cache.keep_verdict(key, {**_to_json(status), "valid_until": until.isoformat()},
                                persist=persist)
        return status

    def _remember(self, key: str, status: RevocationStatus, until: datetime) -> None:
        self._memory[key] = status
        self._memory_until[key] = until

    def _http_client(self) -> HttpFetcher | None:
        if self.settings.offline:
            return None
        if self._http is None:
            self._http = HttpFetcher(self.settings.limits)
        return self._http

    def _validate(self, path: Sequence[CertInfo],
                  embedded: EmbeddedRevinfo | None) -> tuple[RevocationStatus, datetime]:
        from pyhanko_certvalidator import CertificateValidator, ValidationContext
        from pyhanko_certvalidator.errors import (
            InsufficientRevinfoError,
            PathBuildingError,
            PathValidationError,
            RevokedError,
            ValidationError,
        )
        from pyhanko_certvalidator.policy_decl import REQUIRE_REVINFO, CertRevTrustPolicy

        from .fetchers import make_fetchers

        now = datetime.now(UTC)
        leaf = path[0].asn1
        anchor = path[-1].asn1
        others = [c.asn1 for c in path[1:-1]]
        # The status as of now; a certificate that has expired since is asked about at its
        # last valid second (CAs keep revoked certificates on the CRL until then).
        latest = min(c.not_after for c in path) - _ONE_SECOND
        earliest = max(c.not_before for c in path) + _ONE_SECOND
        moment = None if earliest <= now <= latest else max(min(now, latest), earliest)
        fetchers, trace = make_fetchers(self._http_client(), self.cache)
        context = ValidationContext(
            trust_roots=[anchor],
            other_certs=others,
            moment=moment,
            allow_fetching=True,
            fetchers=fetchers,
            crls=list(embedded.crls) if embedded else None,
            ocsps=list(embedded.ocsps) if embedded else None,
            revinfo_policy=CertRevTrustPolicy(REQUIRE_REVINFO, retroactive_revinfo=True),
        )
        validator = CertificateValidator(leaf, intermediate_certs=others,
                                         validation_context=context)
        sources = None
        try:
            _run(validator.async_validate_path())
            status = RevocationStatus(GOOD, checked_at=now, source=_sources(trace, embedded))
        except RevokedError as exc:
            reason = exc.reason.native if exc.reason is not None else None
            who = ("the signer's certificate was" if exc.is_ee_cert
                   else "a CA certificate of the signer's chain was")
            status = RevocationStatus(REVOKED, checked_at=now, revoked_at=exc.revocation_dt,
                                      reason=reason, detail=who,
                                      source=_sources(trace, embedded))
        except InsufficientRevinfoError as exc:
            why = _why(exc, trace)
            status = RevocationStatus(UNKNOWN, checked_at=now, detail=why, source=sources)
            return status, now + UNKNOWN_TTL
        except (PathValidationError, PathBuildingError, ValidationError) as exc:
            why = f"the path could not be validated for revocation: {_msg(exc)}"
            status = RevocationStatus(UNKNOWN, checked_at=now, detail=why, source=sources)
            return status, now + UNKNOWN_TTL
        return status, _valid_until(context, now)


def _run(coro: Any) -> Any:
    """Run a coroutine from sync code, also when the caller's thread already has a loop."""
    import asyncio  # here: a warm run never loads the event loop machinery

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target, name="wpec-revocation")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def _msg(exc: BaseException) -> str:
    text = getattr(exc, "failure_msg", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())[:400]


def _why(exc: BaseException, trace: Any) -> str:
    text = _msg(exc)
    if trace.failures:
        text += " (" + "; ".join(dict.fromkeys(trace.failures)) + ")"
    return text[:800]


def _sources(trace: Any, embedded: EmbeddedRevinfo | None) -> str | None:
    found = sorted(trace.sources)
    if embedded and (embedded.crls or embedded.ocsps) and not found:
        found = ["embedded"]
    return ", ".join(found) or None


def _valid_until(context: Any, now: datetime) -> datetime:
    """The earliest nextUpdate of the revocation data the validation used."""
    manager = context.revinfo_manager
    updates: list[datetime] = []
    for item in manager.crls:
        try:
            value = crl_next_update(item.dump())
        except Exception:
            value = None
        if value is not None:
            updates.append(value)
    for item in manager.ocsps:
        try:
            value = ocsp_next_update(item.dump())
        except Exception:
            value = None
        updates.append(value if value is not None else now + NO_NEXT_UPDATE_TTL)
    future = [u for u in updates if u > now]
    return min(future) if future else now + UNKNOWN_TTL


def _still_valid(status: RevocationStatus, until: datetime | None) -> bool:
    return until is not None and until > datetime.now(UTC)


def _path_key(path: Sequence[CertInfo], embedded: EmbeddedRevinfo | None) -> str:
    digest = hashlib.sha256()
    for cert in path:
        digest.update(cert.fingerprint)
    if embedded is not None:
        for item in (*embedded.crls, *embedded.ocsps):
            digest.update(hashlib.sha256(item).digest())
    return digest.hexdigest()


def _to_json(status: RevocationStatus) -> dict[str, Any]:
    out = status.to_json()
    out["checked_at"] = status.checked_at.isoformat() if status.checked_at else None
    return out


def _from_json(data: Mapping[str, Any]) -> RevocationStatus:
    def when(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value) if isinstance(value, str) else None

    source = data.get("source")
    return RevocationStatus(
        str(data.get("status", UNKNOWN)), checked_at=when("checked_at"),
        revoked_at=when("revoked_at"), reason=data.get("reason"), detail=data.get("detail"),
        source=source,
    )


__all__ = ["RevocationService", "RevocationSettings"]
