"""Archive-then-delete: one housekeeping pass over an account.

The order is the promise "nothing is deleted from a server unless the archive holds it":

1. settle what a crashed earlier pass left `pending` (the server still has it: re-verify and
   finish, or take the \\Deleted flag back; it is gone: record it done);
2. read the quota; load the account's server copies with their messages and holds; the pure
   `policy.evaluate` says what may go and why;
3. re-read every chosen blob from the archive and re-hash it *now*; a missing or corrupt copy
   is fetched again from the server (and checked against its digest) and that message is
   kept this time;
4. per folder (UIDVALIDITY checked) and per batch: FETCH FLAGS+INTERNALDATE, commit the
   `pending` audit rows (with them, so restore can put the message back as it was), then
   UID STORE +FLAGS.SILENT \\Deleted and UID EXPUNGE of exactly those UIDs, then commit `done`
   and the locations as gone;
5. read the quota again, record both samples and the threshold alerts.

A box that refuses writes (a provider's suspended box: SELECT answers [READ-ONLY], or the
STORE / EXPUNGE is refused as read-only) gets no deletion at all: the pass says so in one
line, the messages stay on the server and in the archive, no audit row says "done" (a batch
whose \\Deleted flag was refused is recorded "undone"), and the account is mapped to the
suspended state (`accounts.guard.after_writes_refused`). The next pass tries again.

A kill -9 anywhere leaves either a message untouched, or a pending row whose archive copy was
verified before the server was touched: never a message gone from both. Another client's
messages are never expunged (UID EXPUNGE names our UIDs only; the folder is never CLOSEd).
One pass per account at a time (a lock file in the data folder).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select, update

from wpec_invoicing.errors import WpecError
from wpec_invoicing.housekeeping import quota as quota_mod
from wpec_invoicing.housekeeping.fetch_state import flags_and_dates
from wpec_invoicing.housekeeping.policy import Candidate, Decision, Policy, Usage, evaluate
from wpec_invoicing.housekeeping.verify import blob_problem, check_blobs
from wpec_invoicing.mailbox.imap import FolderError, ImapConnection, WritesRefused, uid_set
from wpec_invoicing.store.archive import sha256_hex
from wpec_invoicing.store.housekeeping_models import Deletion, MessageHold
from wpec_invoicing.store.models import Message, MessageLocation

log = logging.getLogger(__name__)

MAX_SET_CHARS = 12_000  # longest UID set in one command line (servers cap lines at ~64 KB)


class HousekeepingError(WpecError):
    """A pass cannot run (another one holds the account, the server lacks UIDPLUS...)."""

    exit_code = 1


@dataclass
class Planned:
    """One line of the plan as the user sees it."""

    message_id: int
    folder: str
    uid: int
    kind: str | None
    size: int
    sha256: str
    header_message_id: str | None
    reason: str
    archived_at: datetime

    def to_json(self) -> dict:
        return {"message": self.message_id, "folder": self.folder, "uid": self.uid,
                "kind": self.kind, "size": self.size, "sha256": self.sha256,
                "message_id": self.header_message_id, "reason": self.reason,
                "archived_at": self.archived_at.isoformat()}


@dataclass
class HousekeepingResult:
    account: str
    dry_run: bool
    quota_before: quota_mod.QuotaReading | None = None
    quota_after: quota_mod.QuotaReading | None = None
    deleted: list[Planned] = field(default_factory=list)  # or "would be", on a dry run
    refetched: list[Planned] = field(default_factory=list)  # archive copy bad: fetched again
    refetch_failed: list[tuple[Planned, str]] = field(default_factory=list)
    kept: int = 0
    vanished: int = 0  # gone from the server before we got to them (another client)
    settled: int = 0  # pending rows of a crashed earlier pass, finished now
    target_met: bool | None = None
    round_trips: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # where the time went, by phase
    alert: str | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return sum(p.size for p in self.deleted)

    def to_json(self) -> dict:
        return {
            "account": self.account, "dry_run": self.dry_run,
            "quota_before": self.quota_before.to_json() if self.quota_before else None,
            "quota_after": self.quota_after.to_json() if self.quota_after else None,
            "deleted" if not self.dry_run else "would_delete":
                [p.to_json() for p in self.deleted],
            "freed_bytes": self.freed_bytes,
            "refetched": [p.to_json() for p in self.refetched],
            "refetch_failed": [{**p.to_json(), "error": e} for p, e in self.refetch_failed],
            "kept": self.kept, "vanished": self.vanished, "settled": self.settled,
            "target_met": self.target_met, "round_trips": self.round_trips,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "alert": self.alert, "errors": self.errors,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Housekeeper:
    """`Housekeeper(config, account, store).run(dry_run=...)`; `clock` is injectable."""

    def __init__(self, config, account, store, *, password: str | None = None,
                 clock: Callable[[], datetime] = _now,
                 hooks: dict[str, Callable] | None = None) -> None:
        self.config = config
        self.account = account
        self.store = store
        self.archive = store.archive
        self.password = password
        self.clock = clock
        self.hooks = hooks or {}
        hk = config.housekeeping
        days, target = hk.retention_for(account.name)
        self.policy = Policy(days, target)
        self.batch_size = hk.batch_size
        self._refused: WritesRefused | None = None  # the box refused a write this pass

    def _hook(self, name: str, **info: object) -> None:
        fn = self.hooks.get(name)
        if fn is not None:
            fn(**info)

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        folder = Path(self.config.data_dir) / "locks"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"housekeep-{self.account.name}.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise HousekeepingError(f"account {self.account.name}: another housekeeping "
                                        "pass is running") from None
            yield
        finally:
            os.close(fd)

    # -- the pass --------------------------------------------------------------------------
    def run(self, *, dry_run: bool = False,
            connection: ImapConnection | None = None) -> HousekeepingResult:
        with self._lock():
            own = connection is None
            imap = connection or ImapConnection(self.account, password=self.password).connect()
            commands = imap.count_commands()
            try:
                return self._run(imap, dry_run, commands)
            finally:
                if own:
                    imap.close()

    def _run(self, imap: ImapConnection, dry_run: bool,
             commands: Callable[[], int]) -> HousekeepingResult:
        res = HousekeepingResult(self.account.name, dry_run)
        self._refused = None
        if not dry_run:
            res.settled = self._settle_pending(imap)
        res.quota_before = quota_mod.read_quota(imap, self.account.folders)
        usage = Usage(res.quota_before.used_bytes, res.quota_before.limit_bytes)
        tick = time.perf_counter()
        plan = evaluate(self._candidates(), self.policy, self.clock(), usage)
        res.seconds["plan"] = time.perf_counter() - tick
        res.target_met = plan.target_met
        chosen = plan.deletions
        res.kept = len(plan.decisions) - len(chosen)
        tick = time.perf_counter()
        problems = check_blobs(self.archive, [(d.candidate.sha256, d.candidate.size)
                                              for d in chosen])
        res.seconds["verify"] = time.perf_counter() - tick
        sound: list[Decision] = []
        bad: list[Decision] = []
        for d in chosen:
            (bad if problems.get(d.candidate.sha256) else sound).append(d)
        self._hook("verified", count=len(sound))
        if dry_run:
            res.deleted = [_planned(d) for d in sound]
            res.refetched = [_planned(d, f"archive copy {problems[d.candidate.sha256]}: would "
                                         "be fetched again, not deleted") for d in bad]
            res.quota_after = res.quota_before
            res.round_trips = commands()
            return res
        if bad:
            self._refetch(imap, bad, problems, res)
        by_folder: dict[str, list[Decision]] = {}
        for d in sound:
            by_folder.setdefault(d.candidate.folder, []).append(d)
        run_id = f"{self.clock():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        refused: WritesRefused | None = self._refused
        skipped = 0
        for folder, decisions in by_folder.items():
            if refused is not None:  # the box refuses writes: the other folders are skipped
                skipped += len(decisions)
                continue
            before = len(res.deleted)
            try:
                self._delete_folder(imap, folder, decisions, run_id, res)
            except FolderError as exc:
                res.errors.append(str(exc))
            except WritesRefused as exc:
                refused = exc
                skipped += len(decisions) - (len(res.deleted) - before)
        if refused is not None:
            self._box_refuses_writes(refused, skipped, res)
        res.quota_after = quota_mod.read_quota(imap, self.account.folders)
        hk = self.config.housekeeping
        with self.store.session() as s:
            res.alert = quota_mod.record(s, self.account.name, res.quota_after,
                                         warning=hk.warning_percent,
                                         critical=hk.critical_percent, now=self.clock())
        if res.quota_after.limit_bytes and self.policy.usage_target_percent is not None:
            res.target_met = (res.quota_after.percent or 0) <= self.policy.usage_target_percent
        res.round_trips = commands()
        return res

    def _box_refuses_writes(self, exc: WritesRefused, skipped: int,
                            res: HousekeepingResult) -> None:
        """Say it once, and let the account's lifecycle know (see the module docstring)."""
        res.errors.append(f"casella sospesa: the provider refuses writes on "
                          f"{self.account.name} ({exc.reason}): deletions skipped, "
                          f"{skipped} message(s) stay on the server (and in the archive)")
        log.warning("%s: %s", self.account.name, res.errors[-1])
        from wpec_invoicing.accounts.guard import after_writes_refused

        after_writes_refused(self.config, self.account, self.store, exc, now=self.clock())

    # -- step 2: what is on the server ------------------------------------------------------
    def _candidates(self) -> list[Candidate]:
        with self.store.session() as s:
            rows = s.execute(
                select(MessageLocation.id, MessageLocation.folder, MessageLocation.uidvalidity,
                       MessageLocation.uid, Message.id, Message.sha256, Message.size,
                       Message.kind, Message.status, Message.first_seen_at, Message.message_id,
                       MessageHold.message_id)
                .join(Message, Message.id == MessageLocation.message_id)
                .outerjoin(MessageHold, MessageHold.message_id == Message.id)
                .where(MessageLocation.account == self.account.name,
                       MessageLocation.gone.is_(False))
                .order_by(MessageLocation.id)).all()
        return [Candidate(location_id=r[0], folder=r[1], uidvalidity=r[2], uid=r[3],
                          message_id=r[4], sha256=r[5], size=r[6], kind=r[7], status=r[8],
                          archived_at=_aware(r[9]), header_message_id=r[10],
                          held=r[11] is not None) for r in rows]

    # -- step 3: a bad archive copy is fetched again ---------------------------------------
    def _refetch(self, imap: ImapConnection, bad: list[Decision], problems: dict,
                 res: HousekeepingResult) -> None:
        by_folder: dict[str, list[Decision]] = {}
        for d in bad:
            by_folder.setdefault(d.candidate.folder, []).append(d)
        for folder, decisions in by_folder.items():
            try:
                info = imap.select(folder)
            except FolderError as exc:
                for d in decisions:
                    res.refetch_failed.append((_planned(d), str(exc)))
                continue
            for d in decisions:
                c = d.candidate
                what = f"archive copy {problems[c.sha256]}"
                if c.uidvalidity != info.uidvalidity:
                    res.refetch_failed.append((_planned(d, what), "folder renumbered "
                                               "(UIDVALIDITY changed)"))
                    continue
                raw = dict(imap.fetch_bodies([c.uid])).get(c.uid)
                if raw is None:
                    res.refetch_failed.append((_planned(d, what), "gone from the server"))
                elif sha256_hex(raw) != c.sha256:
                    res.refetch_failed.append((_planned(d, what), "the server copy differs "
                                               "from the archived digest"))
                else:
                    self.archive.repair(raw)  # put() would keep the bad copy
                    res.refetched.append(_planned(d, f"{what}: fetched again, kept"))
                    log.warning("%s: message %s %s: fetched again from the server",
                                self.account.name, c.message_id, what)

    # -- step 4: delete, audited ------------------------------------------------------------
    def _batches(self, decisions: list[Decision]) -> Iterator[list[Decision]]:
        ordered = sorted(decisions, key=lambda d: d.candidate.uid)
        cur: list[Decision] = []
        for d in ordered:
            cur.append(d)
            if len(cur) >= self.batch_size or (
                    len(cur) % 200 == 0
                    and len(uid_set(x.candidate.uid for x in cur)) > MAX_SET_CHARS):
                yield cur
                cur = []
        if cur:
            yield cur

    def _delete_folder(self, imap: ImapConnection, folder: str, decisions: list[Decision],
                       run_id: str, res: HousekeepingResult) -> None:
        info = imap.select(folder)
        if info.read_only:  # nothing to try: every STORE would be refused
            raise WritesRefused(f"the server opened {folder} read-only", verb="SELECT",
                                reason=f"SELECT {folder}: [READ-ONLY]")
        current = [d for d in decisions if d.candidate.uidvalidity == info.uidvalidity]
        if len(current) < len(decisions):
            res.errors.append(f"{folder}: UIDVALIDITY changed since the last sync: "
                              f"{len(decisions) - len(current)} message(s) left for next time")
        # A batch's `done` is committed with the next batch's `pending` rows (one commit per
        # batch instead of two: each is an fsync of the store). A kill -9 in between leaves
        # the expunged batch `pending`, which the next pass settles (step 1).
        expunged: list[Decision] = []
        try:
            for batch in self._batches(current):
                uids = [d.candidate.uid for d in batch]
                tick = time.perf_counter()
                state = flags_and_dates(imap, uids)
                tick = self._add(res, "imap", tick)
                present = [d for d in batch if d.candidate.uid in state]
                gone = [d for d in batch if d.candidate.uid not in state]
                now = self.clock()
                with self.store.session() as s:
                    self._mark_done(s, run_id, folder, expunged, now)
                    for d in gone:  # another client took it away: not ours to audit
                        s.get(MessageLocation, d.candidate.location_id).gone = True
                    res.vanished += len(gone)
                    rows = []
                    for d in present:
                        c = d.candidate
                        flags, when = state[c.uid]
                        rows.append(dict(
                            run_id=run_id, status="pending", account=self.account.name,
                            folder=folder, uidvalidity=c.uidvalidity, uid=c.uid,
                            location_id=c.location_id, message_id=c.message_id,
                            header_message_id=c.header_message_id, sha256=c.sha256,
                            size=c.size, policy=d.reason[:200],
                            flags=[f for f in flags
                                   if f.lower() not in ("\\deleted", "\\recent")],
                            internal_date=_aware(when) if isinstance(when, datetime) else None,
                            created_at=now))
                    if rows:
                        # Core, one executemany (not the ORM bulk path: no per-row ORM work)
                        s.execute(insert(Deletion.__table__), rows)
                res.deleted.extend(_planned(d) for d in expunged)
                expunged = []
                self._add(res, "store", tick)
                self._hook("pending", uids=uids)
                # The archive copies were verified above; a blob cannot change between that
                # and here unless someone edits the archive by hand, so verify once more
                # cheaply: the blob still exists with its size (the full re-hash is step 3).
                sizes = self.archive.sizes(d.candidate.sha256 for d in present)
                for d in present:
                    if sizes.get(d.candidate.sha256) != d.candidate.size:
                        raise HousekeepingError(f"archive blob {d.candidate.sha256} changed "
                                                "during housekeeping: stopped before deleting")
                tick = time.perf_counter()
                try:
                    imap.delete_own([d.candidate.uid for d in present])
                except WritesRefused as exc:
                    if exc.verb.startswith("STORE"):  # nothing was flagged: not deleted
                        self._mark_undone(run_id, folder, present)
                    # (an EXPUNGE refused after the flag: left pending, settled next pass)
                    raise
                self._add(res, "imap", tick)
                self._hook("expunged", uids=uids)
                expunged = present
        finally:
            if expunged:
                tick = time.perf_counter()
                with self.store.session() as s:
                    self._mark_done(s, run_id, folder, expunged, self.clock())
                res.deleted.extend(_planned(d) for d in expunged)
                self._add(res, "store", tick)

    def _mark_undone(self, run_id: str, folder: str, batch: list[Decision]) -> None:
        """The server refused to delete this batch: its audit rows say it did not happen."""
        with self.store.session() as s:
            s.execute(update(Deletion).where(
                Deletion.run_id == run_id, Deletion.status == "pending",
                Deletion.folder == folder,
                Deletion.uid.in_([d.candidate.uid for d in batch])).values(status="undone"))

    @staticmethod
    def _mark_done(s, run_id: str, folder: str, expunged: list[Decision],
                   done_at: datetime) -> None:
        if not expunged:
            return
        s.execute(update(Deletion).where(
            Deletion.run_id == run_id, Deletion.status == "pending",
            Deletion.folder == folder,
            Deletion.uid.in_([d.candidate.uid for d in expunged])
        ).values(status="done", deleted_at=done_at))
        s.execute(update(MessageLocation).where(MessageLocation.id.in_(
            [d.candidate.location_id for d in expunged])).values(gone=True))

    @staticmethod
    def _add(res: HousekeepingResult, phase: str, since: float) -> float:
        """Add the time since `since` to `phase`; returns now (the next phase's start)."""
        now = time.perf_counter()
        res.seconds[phase] = res.seconds.get(phase, 0.0) + now - since
        return now

    # -- step 1: what a crashed pass left ---------------------------------------------------
    def _settle_pending(self, imap: ImapConnection) -> int:
        with self.store.session() as s:
            rows = list(s.scalars(select(Deletion).where(
                Deletion.account == self.account.name, Deletion.status == "pending")))
            pending = [(r.id, r.folder, r.uidvalidity, r.uid, r.sha256, r.size,
                        r.location_id) for r in rows]
        if not pending:
            return 0
        by_folder: dict[str, list[tuple]] = {}
        for row in pending:
            by_folder.setdefault(row[1], []).append(row)
        settled = 0
        for folder, rows in by_folder.items():
            try:
                info = imap.select(folder)
            except FolderError:
                continue
            stale = [r for r in rows if r[2] != info.uidvalidity]
            rows = [r for r in rows if r[2] == info.uidvalidity]
            still = imap.existing([r[3] for r in rows])
            finish = [r for r in rows if r[3] in still and not blob_problem(
                self.archive, r[4], r[5])]
            take_back = [r for r in rows if r[3] in still and r not in finish]
            try:
                if (take_back or finish) and info.read_only:
                    raise WritesRefused(f"the server opened {folder} read-only", verb="SELECT",
                                        reason=f"SELECT {folder}: [READ-ONLY]")
                imap.undelete([r[3] for r in take_back])
                imap.delete_own([r[3] for r in finish])
            except WritesRefused as exc:
                # The box is read-only: the rows stay pending (the server still has them,
                # the archive too) and are settled by a pass on a writable box.
                self._refused = exc
                continue
            now = self.clock()
            with self.store.session() as s:
                for r in rows:
                    row = s.get(Deletion, r[0])
                    if r in take_back:
                        row.status = "undone"
                        continue
                    row.status, row.deleted_at = "done", now
                    if r[6] is not None:
                        loc = s.get(MessageLocation, r[6])
                        if loc is not None:
                            loc.gone = True
                for r in stale:
                    s.get(Deletion, r[0]).status = "stale"
            settled += len(rows) + len(stale)
        return settled


def _planned(d: Decision, reason: str | None = None) -> Planned:
    c = d.candidate
    return Planned(c.message_id, c.folder, c.uid, c.kind, c.size, c.sha256,
                   c.header_message_id, reason or d.reason, c.archived_at)


def housekeep_after_sync(config, account, store, *, password: str | None = None) -> None:
    """`[housekeeping] after_sync = true`: a pass after each sync; its failure is logged, never
    the sync's (the mail is archived either way, housekeeping can wait for the next round)."""
    hk = getattr(config, "housekeeping", None)
    if hk is None or not hk.after_sync:
        return
    try:
        Housekeeper(config, account, store, password=password).run()
    except Exception as exc:  # a full box is worse than a skipped pass: never break the sync
        log.warning("housekeeping after sync of %s: %s", account.name, exc)
