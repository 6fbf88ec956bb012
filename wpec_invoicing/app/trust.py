"""Trust use cases: add certificates or a trusted list to the managed store, list, remove.

The store is files under `[trust] store_dir` (see `wpec_invoicing.trust.store`); no database
row, so these never open the store database. Every certificate the ingest and the commands
judge signatures by is in this store plus the config's `trust_store` file or folder.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import InvalidRequest, NotFound
from wpec_invoicing.app.models import Model


class TrustEntry(Model):
    """One trusted certificate: what `wpec trust list` and the API show."""

    fingerprint: str
    subject: str
    issuer: str
    not_before: str
    not_after: str
    source: str
    purpose: str
    added_at: str
    service: str | None = None
    status: str | None = None


class AddResult(Model):
    added: list[TrustEntry]
    already: list[TrustEntry]
    territory: str | None = None  # for a trusted list
    sequence: str | None = None
    services: int = 0  # trust services the list names
    skipped: int = 0  # services not used (withdrawn, or of a type we do not use)
    warnings: list[str] = Field(default_factory=list)


def _store(ctx: AppContext):
    from wpec_invoicing.trust import managed_store

    return managed_store(ctx.config)


def _entries(items) -> list[TrustEntry]:
    return [TrustEntry(**e.to_json()) for e in items]


def add_certificates(ctx: AppContext, path: Path, *, purpose: str = "pec-provider") -> AddResult:
    """Trust the PEM certificates of a file or folder, for `purpose`."""
    from wpec_invoicing.trust import read_pem_path
    from wpec_invoicing.trust.store import StoreError

    try:
        certs = read_pem_path(path)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    try:
        added, already = _store(ctx).add(certs, source=f"file {Path(path).resolve()}",
                                         purpose=purpose)
    except StoreError as exc:
        raise InvalidRequest(str(exc)) from None
    return AddResult(added=_entries(added), already=_entries(already))


def add_trusted_list(ctx: AppContext, path: Path, *, pin: Path) -> AddResult:
    """Verify an ETSI TS 119 612 trusted list with the pinned certificate, then trust its
    active qualified CA and qualified e-delivery services."""
    from wpec_invoicing.inputs import read_file
    from wpec_invoicing.trust import read_pem_path
    from wpec_invoicing.trust.lists import MAX_LIST_BYTES, TrustedListError, is_expired, verify_list

    try:
        pinned = read_pem_path(pin)
    except ValueError as exc:
        raise InvalidRequest(f"--pin {exc}") from None
    if len(pinned) != 1:
        raise InvalidRequest(f"--pin {pin}: holds {len(pinned)} certificates; pin exactly one "
                             "(the list operator's signing certificate)")
    try:
        data = read_file(Path(path), max_bytes=MAX_LIST_BYTES)
    except OSError as exc:
        raise InvalidRequest(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        tl = verify_list(data, pinned[0])
    except TrustedListError as exc:
        raise InvalidRequest(f"trusted list {path} refused: {exc}") from None
    warnings = []
    if is_expired(tl, datetime.now(UTC)):
        warnings.append(f"the list's NextUpdate ({tl.next_update}) has passed: get the "
                        "current list from the operator")
    store = _store(ctx)
    added, already, skipped = [], [], 0
    source = f"trusted list {tl.territory} #{tl.sequence} ({Path(path).name})"
    for service in tl.services:
        if service not in tl.anchors():
            skipped += 1
            continue
        new, old = store.add(service.certificates, source=source, purpose=service.purpose,
                             service=f"{service.provider}: {service.name}",
                             status=service.status.rsplit("/", 1)[-1])
        added += new
        already += old
    return AddResult(added=_entries(added), already=_entries(already), territory=tl.territory,
                     sequence=tl.sequence, services=len(tl.services), skipped=skipped,
                     warnings=warnings)


def list_trusted(ctx: AppContext) -> list[TrustEntry]:
    """Every certificate signatures are judged by: the managed store's, then those of the
    config's `trust_store` file or folder (purpose `any`: they vouch for every use)."""
    from wpec_invoicing.trust import read_pem_path
    from wpec_invoicing.trust.store import StoreError, describe

    try:
        entries = _store(ctx).entries()
    except StoreError as exc:
        raise InvalidRequest(str(exc)) from None
    path = ctx.config.trust_store
    if path is not None:
        try:
            configured = read_pem_path(path)
        except ValueError as exc:
            raise InvalidRequest(f"trust_store {exc}") from None
        entries += [describe(c, source=f"config trust_store {path}", purpose="any")
                    for c in configured]
    return _entries(entries)


def remove_trusted(ctx: AppContext, selector: str) -> list[TrustEntry]:
    """Stop trusting the certificates matching `selector` (fingerprint prefix or subject)."""
    from wpec_invoicing.trust.store import StoreError

    try:
        return _entries(_store(ctx).remove(selector))
    except StoreError as exc:
        if "matches" in str(exc):
            raise NotFound(str(exc)) from None
        raise InvalidRequest(str(exc)) from None


__all__ = ["AddResult", "TrustEntry", "add_certificates", "add_trusted_list", "list_trusted",
           "remove_trusted"]
