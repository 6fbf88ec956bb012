"""Trust: does a signer certificate chain to a certificate the operator trusts?

"Intact" only says the bytes match the key; a key anyone can make proves nothing. Trust is
a separate verdict: the signer chains (through certificates carried in the CMS and those in
the store) to a store certificate, every link's signature checks out, and every certificate
in the chain was valid at the signing time stated in the message (certificates expire; a
receipt signed last year with last year's certificate is still good).

Chain building is cached per (signer fingerprint, carried certificates) in the store, since
a provider signs thousands of receipts with the same certificate; only the cheap validity
check at the signing time runs for each message.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from threading import Lock
from typing import TYPE_CHECKING

from cryptography import x509

from ._certinfo import (
    CertInfo,
    SignatureCheckError,
    cert_info_from_crypto,
    check_signature,
    name_to_rfc4514,
)

if TYPE_CHECKING:
    from .revocation import RevocationChecker

_MAX_DEPTH = 8
_CACHE_SIZE = 4096


class TrustStore:
    """A set of trusted certificates (PEC providers' CAs or certificates, SdI's CA, ...).

    The store is immutable after construction, so its chain cache never goes stale.
    """

    def __init__(self, certificates: Iterable[x509.Certificate | bytes]) -> None:
        infos: dict[bytes, CertInfo] = {}
        for cert in certificates:
            if isinstance(cert, bytes | bytearray):
                cert = _load_one(bytes(cert))
            info = cert_info_from_crypto(cert)
            infos[info.fingerprint] = info
        self._anchors: dict[bytes, CertInfo] = infos
        self._by_subject: dict[str, list[CertInfo]] = {}
        for info in infos.values():
            self._by_subject.setdefault(info.subject_key, []).append(info)
        self._cache: OrderedDict[tuple[bytes, frozenset[bytes]], tuple[list[CertInfo], str]] = (
            OrderedDict()
        )
        self._lock = Lock()
        # The revocation service asked about every trusted chain (None: not checked).
        self.revocation: RevocationChecker | None = None
        # Anchor fingerprint -> the uses ("pec", "invoice") it vouches for; absent: every use.
        # A qualified CA from a trusted list must not make anyone's certificate a PEC provider.
        self._uses: dict[bytes, frozenset[str]] = {}

    def restrict(self, certificate: x509.Certificate | bytes, uses: Iterable[str]) -> None:
        """Let `certificate` (an anchor of this store) vouch only for `uses`."""
        if isinstance(certificate, bytes | bytearray):
            certificate = _load_one(bytes(certificate))
        fingerprint = cert_info_from_crypto(certificate).fingerprint
        if fingerprint in self._anchors:
            self._uses[fingerprint] = frozenset(uses) | self._uses.get(fingerprint, frozenset())

    def vouches_for(self, anchor: CertInfo, use: str) -> bool:
        """Whether the store's anchor `anchor` is trusted for `use`."""
        allowed = self._uses.get(anchor.fingerprint)
        return allowed is None or use in allowed

    def with_revocation(self, checker: RevocationChecker | None) -> TrustStore:
        """The same anchors (and chain cache) with `checker` asked about revocation."""
        clone = object.__new__(TrustStore)
        clone.__dict__.update(self.__dict__)
        clone.revocation = checker
        return clone

    @classmethod
    def from_pem(cls, data: bytes) -> TrustStore:
        """A store from one or many concatenated PEM certificates (ValueError if none)."""
        return cls(load_pem_certificates(data))

    @property
    def certificates(self) -> list[x509.Certificate]:
        return [i.crypto for i in self._anchors.values() if i.crypto is not None]

    def __len__(self) -> int:
        return len(self._anchors)

    def __repr__(self) -> str:
        return f"TrustStore({len(self._anchors)} certificates)"

    # -- chain building ---------------------------------------------------------------

    def judge(
        self,
        signer: CertInfo,
        carried: Sequence[CertInfo] = (),
        at: datetime | None = None,
        use: str | None = None,
    ) -> tuple[bool, str | None]:
        """(trusted, reason): `reason` says why not (unknown issuer, expired, bad link).

        With `use`, the chain must end at an anchor that vouches for that use."""
        when = at if at is not None else datetime.now(UTC)
        chain, reason = self._chain_for(signer, carried, use)
        if not chain:
            return False, reason
        for info in chain:
            if when < info.not_before:
                return False, (
                    f"certificate {info.subject!r} was not yet valid at "
                    f"{_when(at)} (valid from {info.not_before.isoformat()})"
                )
            if when > info.not_after:
                return False, (
                    f"certificate {info.subject!r} had expired at {_when(at)} "
                    f"(valid until {info.not_after.isoformat()})"
                )
        return True, None

    def chain(self, signer: CertInfo, carried: Sequence[CertInfo] = (),
              use: str | None = None) -> list[CertInfo]:
        """The chain from `signer` to a store certificate (signer first), [] when none."""
        return self._chain_for(signer, carried, use)[0]

    def _chain_for(self, signer: CertInfo, carried: Sequence[CertInfo],
                   use: str | None) -> tuple[list[CertInfo], str]:
        chain, reason = self._chain(signer, carried)
        if not chain or use is None or self.vouches_for(chain[-1], use):
            return chain, reason
        # The nearest anchor does not vouch for this use: look past it (uncached, rare).
        found, _ = self._build(signer, carried, use)
        if found:
            return found, ""
        anchor = chain[-1]
        other = "invoices" if use == "pec" else "PEC messages"
        this = "PEC messages" if use == "pec" else "invoices"
        return [], (f"chains to {anchor.subject!r}, which the trust store trusts for {other} "
                    f"only, not for {this}")

    def is_trusted(
        self,
        certificate: x509.Certificate,
        intermediates: Iterable[x509.Certificate] = (),
        at: datetime | None = None,
    ) -> tuple[bool, str | None]:
        """The same judgement for cryptography certificates (handy outside CMS)."""
        return self.judge(
            cert_info_from_crypto(certificate),
            [cert_info_from_crypto(c) for c in intermediates],
            at,
        )

    def _chain(
        self, signer: CertInfo, carried: Sequence[CertInfo]
    ) -> tuple[list[CertInfo], str]:
        key = (signer.fingerprint, frozenset(c.fingerprint for c in carried))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        result = self._build(signer, carried)
        with self._lock:
            self._cache[key] = result
            if len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return result

    def _build(
        self, signer: CertInfo, carried: Sequence[CertInfo], use: str | None = None
    ) -> tuple[list[CertInfo], str]:
        """Depth-first search for a chain ending at a store certificate."""
        pool: dict[str, list[CertInfo]] = {}
        for info in carried:
            pool.setdefault(info.subject_key, []).append(info)
        failures: list[str] = []

        def walk(cert: CertInfo, path: list[CertInfo]) -> list[CertInfo] | None:
            if cert.fingerprint in self._anchors and (use is None or self.vouches_for(cert, use)):
                return path
            if len(path) > _MAX_DEPTH:
                failures.append("chain too long")
                return None
            candidates = list(self._by_subject.get(cert.issuer_key, ()))
            candidates += [
                c for c in pool.get(cert.issuer_key, ()) if c.fingerprint not in self._anchors
            ]
            candidates = [c for c in candidates if c.fingerprint != cert.fingerprint]
            if not candidates:
                issuer = _issuer_text(cert)
                failures.append(f"unknown issuer {issuer!r} of {cert.subject!r} "
                                "(not in the trust store nor in the signature)")
                return None
            for issuer in candidates:
                if any(issuer.fingerprint == p.fingerprint for p in path):
                    continue  # a loop of cross-signed certificates
                problem = _link_problem(cert, issuer)
                if problem:
                    failures.append(problem)
                    continue
                found = walk(issuer, [*path, issuer])
                if found:
                    return found
            return None

        chain = walk(signer, [signer])
        if chain:
            return chain, ""
        # The first failure is the one nearest the signer: the most useful to report.
        return [], failures[0] if failures else "no chain to a trusted certificate"


def _link_problem(child: CertInfo, issuer: CertInfo) -> str | None:
    """None when `issuer` really signed `child`, else why not."""
    if child.crypto is not None and issuer.crypto is not None:
        try:
            child.crypto.verify_directly_issued_by(issuer.crypto)
            return None
        except Exception as exc:
            return (f"bad link: {child.subject!r} is not validly signed by "
                    f"{issuer.subject!r} ({exc or type(exc).__name__})")
    # cryptography refused one of the two: check the raw signature with asn1crypto's view.
    try:
        check_signature(
            issuer.public_key,
            child.asn1["signature_value"].native,
            child.asn1["tbs_certificate"].dump(),
            child.asn1["signature_algorithm"],
            None,
        )
        return None
    except SignatureCheckError as exc:
        return f"bad link: {child.subject!r} is not validly signed by {issuer.subject!r} ({exc})"
    except Exception as exc:
        return f"bad link: {child.subject!r} cannot be checked against {issuer.subject!r} ({exc})"


def _issuer_text(cert: CertInfo) -> str:
    if cert.crypto is not None:
        return cert.crypto.issuer.rfc4514_string()
    return name_to_rfc4514(cert.asn1["tbs_certificate"]["issuer"])


def _when(at: datetime | None) -> str:
    return f"signing time {at.isoformat()}" if at is not None else "the time of the check"


def load_pem_certificates(data: bytes) -> list[x509.Certificate]:
    """All PEM certificates in `data`; ValueError saying so when there is none or one is bad."""
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ValueError("no PEM certificate (-----BEGIN CERTIFICATE-----) found")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"unreadable PEM certificate: {exc}") from None


def _load_one(data: bytes) -> x509.Certificate:
    """One certificate given as bytes: PEM or DER."""
    if data.lstrip().startswith(b"-----BEGIN"):
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


__all__ = ["TrustStore", "load_pem_certificates"]
