"""Use cases of mailbox housekeeping: run it (or plan it), hold / unhold / restore messages,
verify and export the archive. See `wpec_invoicing.housekeeping` for the why."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import InvalidRequest, NotFound
from wpec_invoicing.app.models import Model


class QuotaModel(Model):
    used_bytes: int
    limit_bytes: int | None
    percent: float | None
    source: str
    messages: int | None = None


class PlannedDeletion(Model):
    message: int
    folder: str
    uid: int
    kind: str | None
    size: int
    sha256: str
    message_id: str | None
    reason: str
    archived_at: datetime


class HousekeepingReport(Model):
    """One account's pass: what went (or would go, on a dry run), what was fetched again."""

    account: str
    dry_run: bool
    quota_before: QuotaModel | None
    quota_after: QuotaModel | None
    deleted: list[PlannedDeletion]
    freed_bytes: int
    refetched: list[PlannedDeletion]
    refetch_failed: list[dict[str, Any]]
    kept: int
    vanished: int
    settled: int
    target_met: bool | None
    round_trips: int
    seconds: dict[str, float]  # where the time went: plan, verify, imap, store
    alert: str | None
    errors: list[str]


class RestoreOutcome(Model):
    message: int
    ok: bool
    account: str | None = None
    folder: str | None = None
    error: str | None = None


class ArchiveVerifyReport(Model):
    checked: int
    ok: bool
    missing: list[dict[str, Any]]
    corrupt: list[dict[str, Any]]


class ArchiveExportReport(Model):
    path: str
    messages: int
    invoices: int
    bytes: int
    problems: list[str]


def _accounts(ctx: AppContext, account: str | None) -> list:
    from wpec_invoicing.errors import ConfigError

    try:
        return [ctx.config.account(account)] if account else list(ctx.config.accounts)
    except ConfigError as exc:
        raise NotFound(str(exc)) from None


def housekeep(ctx: AppContext, *, account: str | None = None, dry_run: bool = False,
              clock: Callable[[], datetime] | None = None) -> list[HousekeepingReport]:
    """One housekeeping pass per account (all configured ones by default). A deactivated or
    purged account is skipped (nothing on the server can be reached)."""
    from wpec_invoicing.housekeeping.deleter import Housekeeper

    reports = []
    for acct in _accounts(ctx, account):
        if acct.imap is None:
            continue
        kwargs = {"clock": clock} if clock else {}
        res = Housekeeper(ctx.config, acct, ctx.store, **kwargs).run(dry_run=dry_run)
        data = res.to_json()
        data["deleted"] = data.pop("would_delete" if dry_run else "deleted")
        data["refetched"] = [{k: v for k, v in p.items()} for p in data["refetched"]]
        reports.append(HousekeepingReport.model_validate(data))
    return reports


def _known_ids(session, ids: list[int]) -> None:
    from sqlalchemy import select

    from wpec_invoicing.store.models import Message

    found = set(session.scalars(select(Message.id).where(Message.id.in_(ids))))
    missing = sorted(set(ids) - found)
    if missing:
        raise NotFound(f"no message with id {', '.join(map(str, missing))}")


def hold(ctx: AppContext, ids: list[int], *, reason: str | None = None) -> list[int]:
    """Keep these messages on the server whatever the policy says; returns the ids newly
    held (already held ones are left as they are)."""
    from wpec_invoicing.store.housekeeping_models import MessageHold

    with ctx.session() as s:
        _known_ids(s, ids)
        new = []
        for i in sorted(set(ids)):
            if s.get(MessageHold, i) is None:
                s.add(MessageHold(message_id=i, reason=reason))
                new.append(i)
        return new


def unhold(ctx: AppContext, ids: list[int]) -> list[int]:
    """Release holds; returns the ids that were held."""
    from wpec_invoicing.store.housekeeping_models import MessageHold

    with ctx.session() as s:
        _known_ids(s, ids)
        released = []
        for i in sorted(set(ids)):
            row = s.get(MessageHold, i)
            if row is not None:
                s.delete(row)
                released.append(i)
        return released


def restore(ctx: AppContext, ids: list[int], *, folder: str | None = None,
            account: str | None = None) -> list[RestoreOutcome]:
    """APPEND archived messages back with their original flags and internal date. One bad
    message never stops the others: each outcome says what happened."""
    from imapclient import IMAPClient
    from imapclient.exceptions import IMAPClientError

    from wpec_invoicing.accounts.guard import after_writes_refused
    from wpec_invoicing.housekeeping.restore import (
        BoxRefusesWrites,
        RestoreError,
        restore_one,
        restore_source,
    )
    from wpec_invoicing.mailbox.imap import ImapConnection

    with ctx.session() as s:
        _known_ids(s, ids)
        sources = []
        outcomes: list[RestoreOutcome] = []
        for i in ids:
            try:
                sources.append(restore_source(s, i, account=account, folder=folder))
            except RestoreError as exc:
                outcomes.append(RestoreOutcome(message=i, ok=False, error=str(exc)))
    by_account: dict[str, list] = {}
    for src in sources:
        by_account.setdefault(src.account, []).append(src)
    for name, items in by_account.items():
        try:
            acct = ctx.config.account(name)
        except Exception as exc:
            outcomes += [RestoreOutcome(message=x.message_id, ok=False, error=str(exc))
                         for x in items]
            continue
        with ImapConnection(acct) as imap:
            for src in items:
                try:
                    restore_one(imap, ctx.store.archive, src)
                except BoxRefusesWrites as exc:
                    # The box is read-only (suspended): the lifecycle hears it now, not at
                    # its next look, and the other messages of this box are not tried.
                    after_writes_refused(ctx.config, acct, ctx.store, exc)
                    outcomes += [RestoreOutcome(message=x.message_id, ok=False,
                                                error=str(exc) if x is src else
                                                f"message {x.message_id}: not restored: "
                                                "the box refuses writes (see above)")
                                 for x in items[items.index(src):]]
                    break
                except RestoreError as exc:
                    outcomes.append(RestoreOutcome(message=src.message_id, ok=False,
                                                   error=str(exc)))
                    continue
                except IMAPClientError as exc:  # APPEND refused: over quota, read-only box
                    if isinstance(exc, IMAPClient.AbortError):
                        raise
                    outcomes.append(RestoreOutcome(message=src.message_id, ok=False,
                                                   error=f"the server refused the APPEND: "
                                                         f"{exc}"))
                    continue
                _mark_restored(ctx, src.message_id, name)
                outcomes.append(RestoreOutcome(message=src.message_id, ok=True,
                                               account=name, folder=src.folder))
    order = {i: n for n, i in enumerate(ids)}
    return sorted(outcomes, key=lambda o: order.get(o.message, 0))


def _mark_restored(ctx: AppContext, message_id: int, account: str) -> None:
    from sqlalchemy import select

    from wpec_invoicing.store.housekeeping_models import Deletion

    with ctx.session() as s:
        row = s.scalar(select(Deletion).where(
            Deletion.message_id == message_id, Deletion.account == account,
            Deletion.status == "done").order_by(Deletion.id.desc()).limit(1))
        if row is not None:
            row.status = "restored"


def verify_archive(ctx: AppContext) -> ArchiveVerifyReport:
    """Re-hash every blob; name the missing and corrupt ones and what uses them."""
    from wpec_invoicing.housekeeping.archive_tools import verify_archive as run

    with ctx.session() as s:
        return ArchiveVerifyReport.model_validate(run(s, ctx.store.archive).to_json())


def export_archive(ctx: AppContext, *, since: date, until: date, out: Path
                   ) -> ArchiveExportReport:
    """The hand-over package of what was archived from `since` to `until` (both included)."""
    from datetime import UTC

    from wpec_invoicing.housekeeping.archive_tools import export_archive as run

    if until < since:
        raise InvalidRequest(f"--until {until} is before --since {since}")
    if out.exists() and out.is_dir():
        raise InvalidRequest(f"{out} is a folder: give the path of the .zip to write")
    if not out.parent.is_dir():
        raise InvalidRequest(f"folder {out.parent} does not exist")
    start = datetime.combine(since, time.min, UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, UTC)
    with ctx.session() as s:
        return ArchiveExportReport.model_validate(
            run(s, ctx.store.archive, start, end, out).to_json())



class ArchiveMigrateReport(Model):
    """One `archive migrate` run: what was copied, what was already there (and re-verified),
    what was repaired, and the source blobs that could not be copied because they are bad."""

    source: str
    target: str
    blobs: int
    copied: int
    already: int
    repaired: int
    bytes_copied: int
    bad: list[dict[str, Any]]
    ok: bool
    configured: str  # the backend the configuration uses now


def migrate_archive(ctx: AppContext, *, to: str,
                    progress: Callable[[int, int], None] | None = None
                    ) -> ArchiveMigrateReport:
    """Copy every blob into the `to` backend ("postgresql" or "filesystem") from the other
    one, verifying each hash on both sides; safe to stop and run again (see
    store/blob_migrate.py). `progress(done, copied)` after each batch."""
    from wpec_invoicing.store.archive import BACKENDS, FilesystemArchive
    from wpec_invoicing.store.blob_migrate import migrate

    if to not in BACKENDS:
        raise InvalidRequest(f"--to {to!r}: one of {', '.join(BACKENDS)}")
    store = ctx.store
    if store.engine.dialect.name != "postgresql":
        raise InvalidRequest("the PostgreSQL archive lives in the store's database, and the "
                             f"store is {store.engine.dialect.name}: set store_url = "
                             '"postgresql://..." first (and run `wpec db upgrade`)')
    from wpec_invoicing.store.blob_pg import PostgresArchive

    files = FilesystemArchive(ctx.config.archive_dir)
    database = PostgresArchive(store.engine)
    source, target = (files, database) if to == "postgresql" else (database, files)
    report = migrate(source, target, progress=(lambda r: progress(r.blobs, r.copied))
                     if progress else None)
    return ArchiveMigrateReport(
        source=report.source, target=report.target, blobs=report.blobs, copied=report.copied,
        already=report.already, repaired=report.repaired, bytes_copied=report.bytes_copied,
        bad=report.bad, ok=report.ok, configured=ctx.config.archive.backend)
