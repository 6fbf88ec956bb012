"""IMAP sync: fetch every new message once, archive it, then classify, apply rules, act.

The order is the product's core promise ("nothing received is ever lost"):

1. per folder, UIDVALIDITY + last UID say what is new; bodies are fetched in batches with
   BODY.PEEK[] (reading never marks a message seen);
2. each raw message is written to the archive (fsync) and its record + server location +
   the folder's new last UID are committed in one transaction;
3. then the archived-but-unprocessed messages are classified and their rules applied, a chunk
   per transaction (server actions are only *logged* as pending in that transaction);
4. only then are the pending flags/moves performed on the server and marked done;
5. last, the after-sync checks registered at start-up (`ingest.observers`: the outbox's
   no-acceptance alert).

Steps 1-2 store the raw bytes with their server locations (the pipeline's first stage, in
batches, bulk inserts); step 3 is the rest of the ingestion pipeline (`ingest.Pipeline`), the
same one the importer and the retry run. Step 1 and the archive writes run in a fetcher
thread, the commit of step 2 and step 3 in the caller's, overlapped: each batch is recorded and
classified while the next ones are fetched (only UIDs, digests and sizes cross between them,
so memory does not grow with the box).

Why the fetcher does not commit its records itself: it did, and the two threads then took
turns at the database's write lock (SQLite has one writer; its busy wait sleeps in steps of up
to 100 ms), so each stalled the other; and its Python work competed for the interpreter lock
with the classification, the real bottleneck. The fetcher's share is now mostly waiting on
the network and the disk, which releases that lock; all writes come from one thread.

A crash anywhere leaves a state the next run completes: a blob without a record is fetched
again (same sha256 → same blob), an archived message is processed, a pending action is done.
A message is keyed by the sha256 of its bytes: a re-run, a UIDVALIDITY change or a copy in
another folder adds a location, never a second record. One malformed message is recorded with
its error and never stops the batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import imaplib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import insert, select

from wpec_invoicing.ingest.act import queue_server_actions
from wpec_invoicing.ingest.observers import run_after_sync
from wpec_invoicing.mailbox.imap import FolderError, ImapConnection, ImapError, WritesRefused
from wpec_invoicing.rules.kinds import rule_for_stored
from wpec_invoicing.rules.plan import Location, server_actions
from wpec_invoicing.store.models import FolderState, Message, MessageLocation, RuleAction

log = logging.getLogger(__name__)

# Largest total of bodies fetched in one FETCH command (a big message is fetched alone).
MAX_BATCH_BYTES = 16 * 1024 * 1024
# Messages classified per transaction (one savepoint for the lot, one per message only when
# the lot fails: see `ingest.pipeline`). A transaction costs two waits on the disk (its
# extracted invoice files made durable, then its commit) and a few look-ups (the claim, the
# outbox's and the invoices' checks), whatever its size: 200 a chunk against 50 made a first
# sync of 2,000 messages 10 % faster; the write lock is held about a quarter of a second.
PROCESS_CHUNK = 200
# Messages above this size are fetched in ranges, straight to the archive.
STREAM_ABOVE_BYTES = 8 * 1024 * 1024
STREAM_CHUNK_BYTES = 4 * 1024 * 1024
# Archived batches the fetcher may be ahead of the classification (UIDs, digests and sizes,
# and the bytes of a batch of at most HANDED_BYTES: memory stays bounded, whatever the size
# of the box). 4 (2,000 messages of the usual size) covers the fetcher's pauses (listing the
# next window of UIDs); 8 added 12 MB to a big sync's peak for nothing.
AHEAD_BATCHES = 4
# A batch whose bodies total at most this is handed over with its bytes, so that the
# classifying thread does not read back from the archive what the fetcher just wrote (in a
# big first sync that read was 5 % of the classifying thread's time); a bigger one is read
# back. At most AHEAD_BATCHES × HANDED_BYTES held in the queue.
HANDED_BYTES = 4 * 1024 * 1024
# Recorded messages kept ahead of the classification while a worker parses them (see
# `_fetch_and_process`).
PARSE_AHEAD = 200
# Parsing ahead, archived batches are recorded (and handed to the worker) as soon as they
# arrive while fewer than this many messages wait to be classified: enough for the worker
# never to run dry, few enough for memory to stay flat (their bytes are held meanwhile).
RECORD_AHEAD = 1500
# New UIDs are listed a window of this many UID numbers at a time (memory flat in the folder).
UID_WINDOW = 5000


@dataclass
class FolderResult:
    folder: str
    uidvalidity: int = 0
    new_uids: int = 0
    archived: int = 0  # new records
    known: int = 0  # bytes already in the store (another folder, a re-run, a UIDVALIDITY change)
    vanished: int = 0  # UIDs gone between SEARCH and FETCH
    error: str | None = None  # the folder could not be synced (missing, no rights)


@dataclass
class SyncResult:
    """What one `Mailbox.sync()` did."""

    account: str
    folders: list[FolderResult] = field(default_factory=list)
    processed: int = 0
    errors: int = 0
    server_actions: int = 0
    bodies_fetched: int = 0
    exported: int = 0
    invoices: int = 0  # supplier invoices registered
    quarantined: int = 0  # attachments refused by the accepted-formats allow-list
    alerts: int = 0  # raised by the after-sync checks (e.g. sent PEC with no acceptance)

    @property
    def archived(self) -> int:
        return sum(f.archived for f in self.folders)

    @property
    def known(self) -> int:
        return sum(f.known for f in self.folders)

    def to_json(self) -> dict:
        return {
            "account": self.account,
            "archived": self.archived,
            "known": self.known,
            "processed": self.processed,
            "errors": self.errors,
            "server_actions": self.server_actions,
            "bodies_fetched": self.bodies_fetched,
            "exported": self.exported,
            "invoices": self.invoices,
            "quarantined": self.quarantined,
            "alerts": self.alerts,
            "folders": [f.__dict__ for f in self.folders],
        }


def _now() -> datetime:
    return datetime.now(UTC)


class Mailbox:
    """The sync of one account: `Mailbox(config, account, store).sync()`."""

    def __init__(self, config, account, store, *, pipeline=None,
                 password: str | None = None, hooks: dict[str, Callable] | None = None) -> None:
        from wpec_invoicing.ingest.pipeline import Pipeline

        self.config = config
        self.account = account
        self.store = store
        self.archive = store.archive
        self.pipeline = pipeline or Pipeline.for_config(config, store)
        self.password = password
        # Test hooks (e.g. crash injection): name → fn(**info), called at fixed points.
        self.hooks = hooks or {}
        self._announced = 0  # new UIDs the fetcher has found in this pass (it only adds)

    def _hook(self, name: str, **info: object) -> None:
        fn = self.hooks.get(name)
        if fn is not None:
            fn(**info)

    # -- public --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _account_lock(self) -> Iterator[None]:
        """One sync pass per account at a time across processes and machines (PostgreSQL
        advisory lock; on SQLite, BEGIN IMMEDIATE and the per-UID checks suffice): a cron
        job overlapping `--watch` waits, then finds nothing new."""
        engine = self.store.engine
        if engine.dialect.name != "postgresql":
            yield
            return
        digest = hashlib.sha256(f"wpec-sync:{self.account.name}".encode()).digest()
        key = int.from_bytes(digest[:8], "big", signed=True)
        with engine.connect() as conn:
            conn.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
            conn.commit()
            try:
                yield
            finally:
                conn.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
                conn.commit()

    def sync(self, *, connection: ImapConnection | None = None) -> SyncResult:
        """One pass over the account's folders; returns what happened."""
        from wpec_invoicing.accounts.guard import after_sync_failure, before_sync

        before_sync(self.config, self.account, self.store)  # a closed box is not synced
        try:
            with self._account_lock():
                result = self._sync(connection)
        except ImapError as exc:
            after_sync_failure(self.config, self.account, self.store, exc)  # login refused
            raise
        from wpec_invoicing.housekeeping.deleter import housekeep_after_sync

        housekeep_after_sync(self.config, self.account, self.store, password=self.password)
        return result

    def _sync(self, connection: ImapConnection | None) -> SyncResult:
        result = SyncResult(self.account.name)
        own = connection is None
        imap = connection or ImapConnection(self.account, password=self.password).connect()
        start_bodies = imap.bodies_fetched
        try:
            before = (self.pipeline.invoices, self.pipeline.quarantined)
            usable = self._fetch_and_process(imap, result)
            # What this pass did not fetch itself: messages archived by an interrupted run,
            # or known bytes never processed.
            processed, errors = self.process_pending()
            result.processed += processed
            result.errors += errors
            result.invoices = self.pipeline.invoices - before[0]
            result.quarantined = self.pipeline.quarantined - before[1]
            for folder in usable:
                result.server_actions += self._server_actions(imap, folder)
            result.alerts, _errors = run_after_sync(self.store, self.config)
        except imaplib.IMAP4.error as exc:
            # What was archived and committed stays; the next run goes on from there.
            kind = "connection lost" if isinstance(exc, imaplib.IMAP4.abort) else "server error"
            raise ImapError(f"IMAP {self.account.name}: {kind} during sync: {exc}") from exc
        finally:
            result.bodies_fetched = imap.bodies_fetched - start_bodies
            if own:
                imap.close()
        return result

    def watch(self, *, stop: threading.Event | None = None, idle_seconds: float = 60.0,
              max_backoff: float = 300.0,
              on_result: Callable[[SyncResult], None] | None = None) -> None:
        """Sync, then wait for news on *every* configured folder and sync again; reconnect
        with backoff; stop when the box is closed.

        IMAP IDLE watches one selected folder per connection, so each folder gets a listener
        of its own (`listen.FolderListener`: its own connection, EXAMINE + IDLE) that wakes
        this loop when a message arrives there. Every round is a full pass over all folders,
        also every `idle_seconds` without news (a safety net: a server without IDLE is
        polled at that pace).

        The box's lifecycle is the one-shot sync's: each round starts with its checks (a
        deactivated or purged box is not synced: the watch of that account ends, with the
        alert the transition raised); a login refused by the provider goes through
        `accounts.guard.after_sync_failure` (expired box: deactivated, with an alert; else
        one "login refused" alert) and is then retried at the slowest pace, never in a loop.
        """
        from wpec_invoicing.accounts.guard import AccountClosed, after_sync_failure, before_sync
        from wpec_invoicing.mailbox.imap import ImapRefused
        from wpec_invoicing.mailbox.listen import listen

        stop = stop or threading.Event()
        wake = threading.Event()
        quiet = threading.Event()  # the listeners' stop: set when this watch ends, however
        listeners: list = []
        backoff = 1.0
        try:
            while not stop.is_set():
                try:
                    before_sync(self.config, self.account, self.store)
                    with ImapConnection(self.account, password=self.password) as imap:
                        if not listeners and imap.c.has_capability("IDLE"):
                            listeners = listen(self.account, list(self.account.folders),
                                               wake=wake, stop=quiet, password=self.password,
                                               max_backoff=max_backoff)
                        while not stop.is_set():
                            wake.clear()  # news from now on wakes the next round
                            res = self.sync(connection=imap)
                            backoff = 1.0  # a full pass worked: the next failure starts small
                            if on_result:
                                on_result(res)
                            _wait_any(stop, wake, idle_seconds)
                except AccountClosed as exc:
                    log.warning("%s; watch of %s ended", exc, self.account.name)
                    return
                except ImapRefused as exc:
                    # Not a network hiccup: the provider said no. Map it (a deactivated box
                    # ends the watch at the next round's check) and do not hammer the server.
                    after_sync_failure(self.config, self.account, self.store, exc)
                    log.warning("sync of %s: %s; next try in %.0fs", self.account.name, exc,
                                max_backoff)
                    backoff = max_backoff
                    stop.wait(_jitter(max_backoff))
                except (ImapError, OSError, imaplib.IMAP4.error) as exc:
                    # A dropped connection, a server restart, a timeout: back off and reconnect.
                    delay = _jitter(min(max_backoff, backoff))
                    log.warning("sync of %s: %s; reconnecting in %.1fs", self.account.name,
                                exc, delay)
                    stop.wait(delay)
                    backoff = min(max_backoff, backoff * 2)
        finally:
            quiet.set()
            for listener in listeners:
                listener.join(timeout=5)

    # -- the pipeline: fetch + archive in one thread, classify in this one -----------------
    def _fetch_and_process(self, imap: ImapConnection, result: SyncResult) -> list[str]:
        """Steps 1-3 overlapped: a fetcher thread fetches and archives batch after batch (on
        `imap`, which only it uses meanwhile) and hands over what it archived; this thread
        commits each batch's records, then classifies them, PROCESS_CHUNK per transaction,
        while the next batches arrive. Only durable blobs are handed over and only committed
        records are classified, so the order of the promise holds; the queue is short, so
        memory stays flat whatever the size of the box (a small batch's bodies travel with
        it, HANDED_BYTES at most; a bigger one's are read back from the archive). Returns
        the folders that could be used."""
        ready: queue.Queue[_Archived | str | None] = queue.Queue(maxsize=AHEAD_BATCHES)
        halt = threading.Event()
        usable: list[str] = []
        failure: list[BaseException] = []

        def fetcher() -> None:
            try:
                for folder in self.account.folders:
                    if halt.is_set():
                        return
                    try:
                        result.folders.append(self._fetch_folder(imap, folder, ready, halt))
                        usable.append(folder)
                    except FolderError as exc:
                        log.warning("%s: %s", self.account.name, exc)
                        result.folders.append(FolderResult(folder, error=str(exc)))
            except BaseException as exc:  # handed to the caller's thread, raised there
                failure.append(exc)
            finally:
                _hand_over(ready, None, halt)

        thread = threading.Thread(target=fetcher, name=f"fetch-{self.account.name}",
                                  daemon=True)
        thread.start()
        self._announced = 0
        ahead = contextlib.ExitStack()  # the worker processes, once the run proves big
        try:
            waiting: list[int] = []
            parsing_ahead = False
            finished = False  # the fetcher has handed over everything

            def take(item: _Archived | str | None) -> None:
                nonlocal parsing_ahead, finished
                if isinstance(item, _Archived):
                    created = self._record(*item[:5])
                    waiting.extend(mid for mid, _sha in created)
                    if not parsing_ahead and created:
                        # A big run (the fetcher announces a window's new UIDs before it
                        # fetches them): parse in worker processes what is recorded from
                        # now on, while this thread classifies (`ingest.ahead`).
                        parsing_ahead = ahead.enter_context(self.pipeline.parsing_ahead(
                            self._announced - result.processed))
                    self.pipeline.parse_ahead(created, item.raws)
                elif isinstance(item, str):  # the folder is done
                    self._mark_synced(item)
                else:
                    finished = True

            def take_ready() -> None:
                """Parsing ahead: record (and hand to the worker) the batches the fetcher
                has already archived, up to RECORD_AHEAD messages waiting, before the next
                chunk. Recorded only when this thread came back for the next one, the
                worker's queue ran dry once a batch (0.1 s each time: 3 s of a
                20,000-message sync) while this thread classified."""
                while parsing_ahead and not finished and len(waiting) < RECORD_AHEAD:
                    try:
                        take(ready.get_nowait())
                    except queue.Empty:
                        return

            while not finished:
                take(ready.get())
                take_ready()
                # A full chunk, or whatever is there when the fetcher has nothing more yet.
                # Parsing ahead, PARSE_AHEAD messages stay submitted and unclassified, so
                # that the worker parses them while this thread classifies the ones before
                # (classifying what was just submitted would only wait for the worker).
                margin = PARSE_AHEAD if parsing_ahead else 0
                while len(waiting) >= PROCESS_CHUNK + margin or (
                        waiting and (finished or (not margin and ready.empty()))):
                    chunk, waiting[:] = waiting[:PROCESS_CHUNK], waiting[PROCESS_CHUNK:]
                    self._process_chunk(chunk, result)
                    take_ready()
        finally:
            ahead.close()
            halt.set()
            while thread.is_alive():  # never leave the fetcher blocked on a full queue
                with contextlib.suppress(queue.Empty):
                    ready.get(timeout=0.1)
            thread.join()
        if failure:
            raise failure[0]
        return usable

    def _process_chunk(self, chunk: list[int], result: SyncResult) -> None:
        for ok in self.pipeline.process_many(chunk, account=self.account):
            result.processed += 1
            result.errors += 0 if ok else 1
        for message_id in chunk:
            self._hook("processed", message_id=message_id)

    # -- step 1+2: fetch and archive -----------------------------------------------------
    def _fetch_folder(self, imap: ImapConnection, folder: str,
                      ready: queue.Queue | None = None,
                      halt: threading.Event | None = None) -> FolderResult:
        """Fetch, archive and commit the folder's new messages batch by batch. With `ready`,
        each archived batch goes there instead, for the caller's thread to commit, and the
        folder's name last, when it is done."""
        info = imap.select(folder)
        res = FolderResult(folder, info.uidvalidity)
        account = self.account.name
        with self.store.session() as s:
            state = s.scalar(select(FolderState).where(FolderState.account == account,
                                                       FolderState.folder == folder))
            if state is None:
                state = FolderState(account=account, folder=folder,
                                    uidvalidity=info.uidvalidity, last_uid=0)
                s.add(state)
            elif state.uidvalidity != info.uidvalidity:
                # The server renumbered the folder: start over; sha256 keeps it one record each.
                log.warning("%s/%s: UIDVALIDITY changed %s → %s, rescanning", account, folder,
                            state.uidvalidity, info.uidvalidity)
                state.uidvalidity, state.last_uid = info.uidvalidity, 0
            last_uid = state.last_uid
        # The new UIDs a window at a time (UID numbers up to UIDNEXT in steps of UID_WINDOW,
        # the last window open-ended for what arrives meanwhile): neither the server's list
        # nor our known locations are ever held for the whole folder.
        first = last_uid + 1
        while True:
            if halt is not None and halt.is_set():
                return res  # the caller failed: what is committed stays, the next run goes on
            last = first + UID_WINDOW - 1
            if info.uidnext is None or last >= info.uidnext - 1:
                last = None
            self._fetch_window(imap, folder, info.uidvalidity, first, last, res, ready, halt)
            if last is None:
                break
            first = last + 1
        if ready is None:
            self._mark_synced(folder)
        else:
            _hand_over(ready, folder, halt)
        return res

    def _fetch_window(self, imap: ImapConnection, folder: str, uidvalidity: int, first: int,
                      last: int | None, res: FolderResult, ready: queue.Queue | None,
                      halt: threading.Event | None) -> None:
        """The new messages with UIDs from `first` to `last` (None: the end), in batches."""
        account = self.account.name
        found = imap.uids_between(first, last)
        if not found:
            return
        with self.store.read_session() as s:  # never waits for the classifying thread
            known = set(s.scalars(select(MessageLocation.uid).where(
                MessageLocation.account == account, MessageLocation.folder == folder,
                MessageLocation.uidvalidity == uidvalidity,
                MessageLocation.uid >= found[0], MessageLocation.uid <= found[-1])))
        uids = [u for u in found if u not in known]
        del found, known
        res.new_uids += len(uids)
        self._announced += len(uids)
        if not uids:
            return
        sizes = imap.sizes(uids)
        for batch in _batches(uids, sizes, self.account.batch_size, MAX_BATCH_BYTES,
                              STREAM_ABOVE_BYTES):
            if halt is not None and halt.is_set():
                return
            raws = None
            if len(batch) == 1 and sizes.get(batch[0], 0) > STREAM_ABOVE_BYTES:
                got = self._fetch_big(imap, batch[0], sizes[batch[0]], res)
            else:
                got, raws = self._fetch_batch(imap, batch, res)
            if ready is None:
                self._record(folder, uidvalidity, batch, got, res)
            else:
                _hand_over(ready, _Archived(folder, uidvalidity, batch, got, res, raws), halt)

    def _fetch_big(self, imap: ImapConnection, uid: int, size: int,
                   res: FolderResult) -> list[tuple[int, str, int]]:
        """One big message, fetched in ranges straight into the archive; [(uid, sha256,
        size)], or [] when it vanished meanwhile."""
        try:
            digest, stored = self.archive.put_stream(
                imap.fetch_body_chunks(uid, size, STREAM_CHUNK_BYTES))
        except ImapError:
            res.vanished += 1
            return []
        self._hook("archived", uid=uid, sha256=digest)
        return [(uid, digest, stored)]

    def _fetch_batch(self, imap: ImapConnection, batch: list[int], res: FolderResult
                     ) -> tuple[list[tuple[int, str, int]], dict[str, bytes] | None]:
        """The batch's bodies fetched and archived (durable); [(uid, sha256, size)], and
        the bytes by sha256 when they total at most HANDED_BYTES (else None)."""
        got: list[tuple[int, str, int]] = []
        fetched = [(uid, raw) for uid, raw in imap.fetch_bodies(batch) if raw is not None]
        res.vanished += len(batch) - len(fetched)
        digests = self.archive.put_many([raw for _uid, raw in fetched])  # durable first
        for (uid, raw), digest in zip(fetched, digests, strict=True):
            self._hook("archived", uid=uid, sha256=digest)
            got.append((uid, digest, len(raw)))
        if sum(size for _u, _d, size in got) > HANDED_BYTES:
            return got, None
        return got, {digest: raw for (_uid, raw), digest in zip(fetched, digests, strict=True)}

    def _record(self, folder: str, uidvalidity: int, batch: list[int],
                got: list[tuple[int, str, int]], res: FolderResult) -> list[tuple[int, str]]:
        """Commit the archived messages, their locations and the folder's new last UID, in
        one transaction with bulk inserts; returns the new records (id, sha256), to classify.

        Known bytes are read FOR UPDATE (PostgreSQL): a copy of a message being classified
        right now waits for that to commit, then gets the same server actions."""
        account = self.account.name
        created: list[tuple[int, str]] = []
        with self.store.session() as s:
            known = {sha: (mid, status, kind) for mid, sha, status, kind in s.execute(
                select(Message.id, Message.sha256, Message.status, Message.kind)
                .where(Message.sha256.in_({digest for _u, digest, _s in got}))
                .with_for_update(of=Message))} if got else {}
            # Another sync of the same account may have recorded some of these meanwhile.
            seen = set(s.scalars(select(MessageLocation.uid).where(
                MessageLocation.account == account, MessageLocation.folder == folder,
                MessageLocation.uidvalidity == uidvalidity,
                MessageLocation.uid.in_([u for u, _d, _s in got])))) if got else set()
            fresh = [(uid, digest, size) for uid, digest, size in got if uid not in seen]
            res.known += len(got) - len(fresh)
            new_rows: dict[str, dict] = {}
            for _uid, digest, size in fresh:
                if digest not in known and digest not in new_rows:  # same bytes twice: one
                    new_rows[digest] = {"sha256": digest, "size": size, "status": "archived",
                                        "source": "imap", "first_seen_at": _now()}
            if new_rows:
                for mid, sha in s.execute(insert(Message).returning(Message.id, Message.sha256),
                                          list(new_rows.values())):
                    known[sha] = (mid, "archived", None)
                    created.append((mid, sha))
            res.archived += len(new_rows)
            res.known += len(fresh) - len(new_rows)
            plain, copies = [], []
            for uid, digest, _size in fresh:
                mid, status, kind = known[digest]
                row = {"message_id": mid, "account": account, "folder": folder,
                       "uidvalidity": uidvalidity, "uid": uid, "seen_at": _now(),
                       "gone": False}
                (plain if status == "archived" else copies).append((row, kind))
            if plain:
                s.execute(insert(MessageLocation), [row for row, _k in plain])
            for row, kind in copies:
                # Another copy of a message already processed (a second folder, a renumbered
                # folder): it gets the same server actions, nothing else.
                loc_id = s.scalar(insert(MessageLocation).returning(MessageLocation.id), row)
                queue_server_actions(s, row["message_id"], server_actions(
                    rule_for_stored(self.config, kind), [Location(loc_id, account, folder)],
                    account))
            state = s.scalar(select(FolderState).where(
                FolderState.account == account, FolderState.folder == folder))
            if state is not None and state.uidvalidity == uidvalidity:
                state.last_uid = max(state.last_uid, max(batch))
        self._hook("committed", uids=batch)
        return sorted(created)

    def _mark_synced(self, folder: str) -> None:
        with self.store.session() as s:
            state = s.scalar(select(FolderState).where(
                FolderState.account == self.account.name, FolderState.folder == folder))
            if state is not None:
                state.synced_at = _now()

    # -- step 3: classify and apply rules ------------------------------------------------
    def process_pending(self) -> tuple[int, int]:
        """Process every archived message not yet processed; (processed, errors)."""
        with self.store.session() as s:
            ids = list(s.scalars(select(Message.id).where(Message.status == "archived")
                                 .order_by(Message.id)))
        processed = errors = 0
        for start in range(0, len(ids), PROCESS_CHUNK):
            chunk = ids[start:start + PROCESS_CHUNK]
            for ok in self.pipeline.process_many(chunk, account=self.account):
                processed += 1
                errors += 0 if ok else 1
            for message_id in chunk:
                self._hook("processed", message_id=message_id)
        return processed, errors

    # -- step 4: server actions ----------------------------------------------------------
    def _server_actions(self, imap: ImapConnection, folder: str) -> int:
        with self.store.session() as s:
            rows = s.execute(
                select(RuleAction, MessageLocation)
                .join(MessageLocation, RuleAction.location_id == MessageLocation.id)
                .where(RuleAction.status == "pending",
                       MessageLocation.account == self.account.name,
                       MessageLocation.folder == folder)
                .order_by(RuleAction.id)
            ).all()
            plan = [(a.id, a.action, a.target, loc.id, loc.uid, loc.uidvalidity)
                    for a, loc in rows]
        if not plan:
            return 0
        info = imap.select(folder)
        if info.read_only:  # a suspended box: nothing can change there; the actions wait
            return self._writes_refused(WritesRefused(
                f"the server opened {folder} read-only", verb="SELECT",
                reason=f"SELECT {folder}: [READ-ONLY]"), [p[0] for p in plan], 0)
        done = 0
        # Flags first (a move takes the message away), grouped by target.
        groups: dict[tuple[str, str], list[tuple[int, int, int]]] = {}
        stale: list[int] = []
        for action_id, action, target, loc_id, uid, uidvalidity in plan:
            if uidvalidity != info.uidvalidity:
                stale.append(action_id)
                continue
            groups.setdefault((action, target or ""), []).append((action_id, loc_id, uid))
        for (action, target), items in sorted(groups.items(), key=lambda kv: kv[0][0] != "flag"):
            uids = sorted({uid for _a, _l, uid in items})
            self._hook("before_server_action", action=action, target=target, uids=uids)
            try:
                if action == "flag":
                    imap.add_flags(uids, [f for f in target.split() if f])
                elif action == "move":
                    imap.move(uids, target)
                else:
                    continue
            except WritesRefused as exc:  # the box refuses every write: all wait
                return self._writes_refused(exc, [p[0] for p in plan], done)
            except imaplib.IMAP4.error as exc:
                if isinstance(exc, imaplib.IMAP4.abort):
                    raise  # the connection is gone: the next run retries
                # The server refused (no such flag allowed, quota, rights): the actions stay
                # pending with the reason and are retried next run; the others go on.
                log.warning("%s %s %s: server refused: %s", self.account.name, action,
                            target, exc)
                with self.store.session() as s:
                    for action_id, _loc, _uid in items:
                        s.get(RuleAction, action_id).detail = f"server refused: {exc}"[:4000]
                continue
            with self.store.session() as s:
                for action_id, loc_id, _uid in items:
                    row = s.get(RuleAction, action_id)
                    row.status, row.done_at = "done", _now()
                    if (row.detail or "").startswith("waiting: "):  # it waited: now done
                        row.detail = None
                    if action == "move":
                        s.get(MessageLocation, loc_id).gone = True
            done += len(items)
        if stale:
            with self.store.session() as s:
                for action_id in stale:
                    row = s.get(RuleAction, action_id)
                    row.status = "stale"
                    row.detail = "folder UIDVALIDITY changed before the action could run"
        return done

    def _writes_refused(self, exc: WritesRefused, action_ids: list[int], done: int) -> int:
        """The provider refuses writes (a suspended box): the actions not done stay pending
        with the reason, tried again next run; the account is mapped to the suspended state
        (`accounts.guard.after_writes_refused`). Returns `done`."""
        from wpec_invoicing.accounts.guard import after_writes_refused

        log.warning("%s: %s: server actions wait", self.account.name, exc)
        with self.store.session() as s:
            for row in s.scalars(select(RuleAction).where(RuleAction.id.in_(action_ids),
                                                          RuleAction.status == "pending")):
                row.detail = f"waiting: casella sospesa: the provider refuses writes " \
                             f"({exc.reason})"[:4000]
        after_writes_refused(self.config, self.account, self.store, exc)
        return done


class _Archived(NamedTuple):
    """A batch the fetcher archived, for the caller's thread to record (`Mailbox._record`'s
    arguments): the folder, its UIDVALIDITY, the UIDs asked for, what was archived; and
    the archived bytes by sha256 when the batch is small enough to hand over (HANDED_BYTES),
    else None (they are read back from the archive)."""

    folder: str
    uidvalidity: int
    batch: list[int]
    got: list[tuple[int, str, int]]
    res: FolderResult
    raws: dict[str, bytes] | None = None


def _hand_over(ready: queue.Queue, item: _Archived | str | None,
               halt: threading.Event | None) -> None:
    """Put `item` on the queue, giving up when the consumer has stopped (`halt`)."""
    while True:
        try:
            ready.put(item, timeout=0.2)
            return
        except queue.Full:
            if halt is not None and halt.is_set():
                return


def _jitter(seconds: float) -> float:
    """`seconds` ± 50 %: reconnecting clients do not all come back at the same instant."""
    return seconds * (0.5 + random.random())  # noqa: S311


def _wait_any(stop: threading.Event, wake: threading.Event, timeout: float) -> None:
    """Until news (`wake`), `stop` or `timeout`, whichever comes first."""
    deadline = time.monotonic() + timeout
    while not stop.is_set() and not wake.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        wake.wait(min(left, 0.5))


def _batches(uids: list[int], sizes: dict[int, int], max_count: int, max_bytes: int,
             alone_above: int) -> list[list[int]]:
    """Consecutive UIDs grouped by count and bytes; a message above `alone_above` bytes
    gets a batch of its own (it is streamed)."""
    out: list[list[int]] = []
    cur: list[int] = []
    cur_bytes = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if size > alone_above:
            if cur:
                out.append(cur)
                cur, cur_bytes = [], 0
            out.append([uid])
            continue
        if cur and (len(cur) >= max_count or cur_bytes + size > max_bytes):
            out.append(cur)
            cur, cur_bytes = [], 0
        cur.append(uid)
        cur_bytes += size
    if cur:
        out.append(cur)
    return out


def run_pending_exports(config, store) -> int:
    """Run the exporters when rules handed invoices over (pending `export` actions)."""
    from wpec_invoicing.exporters.base import run_exports

    with store.session() as s:
        targets = list(s.scalars(select(RuleAction.target).where(
            RuleAction.action == "export", RuleAction.status == "pending")))
    if not targets:
        return 0
    if not config.exporters:
        with store.session() as s:
            for row in s.scalars(select(RuleAction).where(
                    RuleAction.action == "export", RuleAction.status == "pending")):
                row.status, row.detail = "done", "no exporter configured"
        return 0
    names = None
    if all(t for t in targets):
        names = sorted({n for t in targets for n in t.split(",") if n})
    return sum(r.exported for r in run_exports(config, store, names=names))
