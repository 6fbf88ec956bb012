"""The revocation cache on disk: CRLs, OCSP answers, and the verdicts drawn from them.

Why: a PEC provider signs thousands of receipts with one certificate, and a CRL is valid
until its nextUpdate. So what was fetched is kept (one file per CRL URL or OCSP question,
written atomically) and reused while it is fresh; offline, it is used even when stale, and
the validator then says how stale. On top, the verdict for a certificate path is kept until
the earliest nextUpdate of the data it rests on, so a warm run does no CRL parsing at all.

Layout: `crl/<sha256(url)>.der`, `ocsp/<sha256(question)>.der`, `verdicts.json`.
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from threading import Lock
from typing import Any

# An OCSP answer without nextUpdate ("ask again whenever") is reused this long.
NO_NEXT_UPDATE_TTL = timedelta(hours=1)


def _key(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def crl_next_update(der: bytes) -> datetime | None:
    from asn1crypto import crl

    return crl.CertificateList.load(der)["tbs_cert_list"]["next_update"].native


def ocsp_next_update(der: bytes) -> datetime | None:
    from asn1crypto import ocsp

    resp = ocsp.OCSPResponse.load(der)
    basic = resp["response_bytes"]["response"].parsed
    updates = [r["next_update"].native for r in basic["tbs_response_data"]["responses"]]
    present = [u for u in updates if u is not None]
    return min(present) if present else None


class RevinfoCache:
    """CRLs and OCSP answers on disk (None directory: memory only, for one process)."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, bytes] = {}
        self._lock = Lock()
        self._verdicts: dict[str, dict[str, Any]] | None = None

    # -- raw revocation data ---------------------------------------------------------
    def _path(self, kind: str, key: str) -> Path | None:
        return None if self.directory is None else self.directory / kind / f"{key}.der"

    def get(self, kind: str, name: str | bytes, *, stale_ok: bool) -> bytes | None:
        """The cached item, if fresh (or at all, with `stale_ok`)."""
        key = _key(name)
        data = self._memory.get(f"{kind}/{key}")
        path = self._path(kind, key)
        written: datetime | None = None
        if data is None and path is not None:
            try:
                data = path.read_bytes()
                written = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except OSError:
                return None
        if data is None:
            return None
        if stale_ok:
            return data
        try:
            nxt = crl_next_update(data) if kind == "crl" else ocsp_next_update(data)
        except Exception:
            return None
        now = datetime.now(UTC)
        if nxt is None:
            nxt = (written or now) + NO_NEXT_UPDATE_TTL
        return data if nxt > now else None

    def put(self, kind: str, name: str | bytes, data: bytes) -> None:
        key = _key(name)
        self._memory[f"{kind}/{key}"] = data
        path = self._path(kind, key)
        if path is not None:
            _write_atomic(path, data)

    # -- verdicts --------------------------------------------------------------------
    def _verdict_file(self) -> Path | None:
        return None if self.directory is None else self.directory / "verdicts.json"

    def _load_verdicts(self) -> dict[str, dict[str, Any]]:
        if self._verdicts is None:
            self._verdicts = {}
            path = self._verdict_file()
            if path is not None:
                try:
                    loaded = json.loads(path.read_text("utf-8"))
                    if isinstance(loaded, dict):
                        self._verdicts = loaded
                except (OSError, ValueError):
                    pass
        return self._verdicts

    def verdict(self, key: str) -> dict[str, Any] | None:
        """The kept verdict for a path key while it is valid, else None."""
        with self._lock:
            entry = self._load_verdicts().get(key)
        if not isinstance(entry, dict):
            return None
        try:
            until = datetime.fromisoformat(entry["valid_until"])
        except (KeyError, TypeError, ValueError):
            return None
        return entry if until > datetime.now(UTC) else None

    def keep_verdict(self, key: str, entry: dict[str, Any], *, persist: bool = True) -> None:
        with self._lock:
            verdicts = self._load_verdicts()
            now = datetime.now(UTC)
            for old in [k for k, v in verdicts.items() if _expired(v, now)]:
                del verdicts[old]
            verdicts[key] = entry
            path = self._verdict_file()
            if persist and path is not None:
                _write_atomic(path, json.dumps(verdicts, sort_keys=True).encode())

    def clear(self) -> None:
        with self._lock:
            self._memory.clear()
            self._verdicts = {}
            if self.directory is not None:
                for kind in ("crl", "ocsp"):
                    for p in (self.directory / kind).glob("*.der"):
                        p.unlink(missing_ok=True)
                (self.directory / "verdicts.json").unlink(missing_ok=True)


def _expired(entry: Any, now: datetime) -> bool:
    try:
        return datetime.fromisoformat(entry["valid_until"]) <= now
    except (KeyError, TypeError, ValueError):
        return True


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


__all__ = ["RevinfoCache", "crl_next_update", "ocsp_next_update"]
