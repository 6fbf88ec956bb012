"""The trust store the product manages on disk (`wpec trust add|add-list|list|remove`).

Why: "chains to the PEM files you passed with --trust" left the user to find, copy and keep
those files. Here every trusted certificate is one file `certs/<sha256>.pem`, and
`index.json` says where it came from (a file, or a trusted list: territory, sequence number,
service name) and what it is trusted for:

- `pec-provider`: a PEC provider's (or its CA's) certificate, for receipts and envelopes;
- `qualified-ca`: a qualified CA from an ETSI TS 119 612 trusted list, for signed invoices.

Adding the same certificate again only updates its record; removing is by fingerprint
(prefix) or subject text. Writes are atomic (temp file + rename): a crash never leaves a
half-written index.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

PEC_PROVIDER = "pec-provider"
QUALIFIED_CA = "qualified-ca"
PURPOSES = (PEC_PROVIDER, QUALIFIED_CA)


class StoreError(ValueError):
    """The store cannot do what was asked (the message says why)."""


@dataclass(frozen=True)
class Entry:
    """One trusted certificate as `wpec trust list` shows it."""

    fingerprint: str  # sha256, hex
    subject: str
    issuer: str
    not_before: str
    not_after: str
    source: str
    purpose: str
    added_at: str
    service: str | None = None  # the trusted list's service name, if any
    status: str | None = None  # the trusted list's service status, if any

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def fingerprint(cert: x509.Certificate) -> str:
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


class ManagedStore:
    """The store in `directory` (created on first write)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    @property
    def _index_path(self) -> Path:
        return self.directory / "index.json"

    def _cert_path(self, fp: str) -> Path:
        return self.directory / "certs" / f"{fp}.pem"

    def _index(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self._index_path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StoreError(f"trust store index {self._index_path} is unreadable: {exc}") \
                from None
        return data if isinstance(data, dict) else {}

    def _save(self, index: dict[str, dict[str, Any]]) -> None:
        _write_atomic(self._index_path, json.dumps(index, indent=1, sort_keys=True).encode())

    def add(
        self, certificates: Iterable[x509.Certificate], *, source: str, purpose: str,
        service: str | None = None, status: str | None = None,
    ) -> tuple[list[Entry], list[Entry]]:
        """Add certificates; (newly added, already there and updated)."""
        if purpose not in PURPOSES:
            raise StoreError(f"unknown purpose {purpose!r} (one of {', '.join(PURPOSES)})")
        index = self._index()
        added, updated = [], []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for cert in certificates:
            fp = fingerprint(cert)
            record = {
                "subject": cert.subject.rfc4514_string(),
                "issuer": cert.issuer.rfc4514_string(),
                "not_before": cert.not_valid_before_utc.isoformat(),
                "not_after": cert.not_valid_after_utc.isoformat(),
                "source": source, "purpose": purpose, "service": service, "status": status,
                "added_at": index.get(fp, {}).get("added_at", now),
            }
            path = self._cert_path(fp)
            if not path.exists():
                _write_atomic(path, cert.public_bytes(serialization.Encoding.PEM))
            (updated if fp in index else added).append(_entry(fp, record))
            index[fp] = record
        self._save(index)
        return added, updated

    def entries(self) -> list[Entry]:
        return sorted((_entry(fp, rec) for fp, rec in self._index().items()),
                      key=lambda e: (e.purpose, e.subject))

    def certificates(self, purpose: str | None = None) -> list[x509.Certificate]:
        out = []
        for fp, record in self._index().items():
            if purpose is not None and record.get("purpose") != purpose:
                continue
            try:
                out.append(x509.load_pem_x509_certificate(self._cert_path(fp).read_bytes()))
            except (OSError, ValueError):
                continue  # a file removed by hand: `trust list` still shows the record
        return out

    def remove(self, selector: str) -> list[Entry]:
        """Remove the certificates whose fingerprint starts with, or subject contains,
        `selector`; StoreError when it matches nothing."""
        wanted = selector.strip().lower().replace(":", "")
        if not wanted:
            raise StoreError("say which certificate: a fingerprint (prefix) or subject text")
        index = self._index()
        hits = [fp for fp, rec in index.items()
                if (len(wanted) >= 8 and fp.startswith(wanted))
                or wanted in str(rec.get("subject", "")).lower()]
        if not hits:
            raise StoreError(f"no certificate in the trust store matches {selector!r}")
        removed = [_entry(fp, index.pop(fp)) for fp in hits]
        for fp in hits:
            self._cert_path(fp).unlink(missing_ok=True)
        self._save(index)
        return removed


def describe(cert: x509.Certificate, *, source: str, purpose: str) -> Entry:
    """An Entry for a certificate outside the managed store (the config's trust_store)."""
    return Entry(
        fingerprint=fingerprint(cert), subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(), not_before=cert.not_valid_before_utc.isoformat(),
        not_after=cert.not_valid_after_utc.isoformat(), source=source, purpose=purpose,
        added_at="",
    )


def _entry(fp: str, record: dict[str, Any]) -> Entry:
    return Entry(
        fingerprint=fp, subject=str(record.get("subject", "")),
        issuer=str(record.get("issuer", "")), not_before=str(record.get("not_before", "")),
        not_after=str(record.get("not_after", "")), source=str(record.get("source", "")),
        purpose=str(record.get("purpose", "")), added_at=str(record.get("added_at", "")),
        service=record.get("service"), status=record.get("status"),
    )


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = ["PEC_PROVIDER", "PURPOSES", "QUALIFIED_CA", "Entry", "ManagedStore", "StoreError",
           "describe"]
