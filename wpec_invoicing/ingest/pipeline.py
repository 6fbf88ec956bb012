"""The pipeline: every stage of ingestion, in order, for one message or a batch.

Sync, import and retry all call it. Transactions: `process_many` claims a chunk of archived
messages in one transaction, recognises them (pure work on the bytes: nothing to roll back),
then does their database work in one savepoint for the whole group: no savepoint per message
or per observer, and one flush of the group's rows. When anything in that group
raises, the savepoint is rolled back and the group is done again the careful way, each
message in its own savepoint and each observer and action in its own (one failure rolls back
only itself and is recorded on the message with why; the batch goes on), reusing what was
recognised: one bad message never stops the batch and nothing is lost, and the common case
pays for one savepoint. A message whose rule runs actions or a plugin's step (which may
reach outside the database) is always done the careful way, alone: a retried group never
runs those twice. `process_stored` does one message in its own transaction.
Everything a message's processing writes commits with its "processed" status, or not at all;
server moves and flags are only queued.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wpec_invoicing.ingest.act import carry_out
from wpec_invoicing.ingest.context import IngestContext
from wpec_invoicing.ingest.events import events_of, invoice_events, record_events
from wpec_invoicing.ingest.invoices import (
    Registered,
    register_file,
    register_invoices,
    register_messages,
)
from wpec_invoicing.ingest.observers import prepare_group
from wpec_invoicing.ingest.recognise import Recognised, describe, recognise
from wpec_invoicing.ingest.store_raw import store_raw_message
from wpec_invoicing.ingest.verify import envelope_verdict, message_problems
from wpec_invoicing.rules.kinds import SDI_INVOICE, effective_rule
from wpec_invoicing.rules.plan import Location, MessageFacts, decide
from wpec_invoicing.store.batch import deferred_inserts
from wpec_invoicing.store.models import Message, utcnow

log = logging.getLogger(__name__)

# Bigger messages are archived (streamed) but not parsed: parsing needs several copies in
# memory. Providers cap PEC messages far below this (30-100 MB).
MAX_PROCESS_BYTES = 200 * 1024 * 1024
# Messages recognised ahead of their database work are held in memory (bytes and parse) for
# the group: a group stops at this many bytes (a bigger message makes a group of its own).
GROUP_BYTES = 32 * 1024 * 1024
# Bytes read for the parse ahead and kept for the message's turn (see `Pipeline._raw`).
HELD_BYTES = 32 * 1024 * 1024


@dataclass
class Outcome:
    """What processing one message did."""

    kind: str
    saved: list[str] = field(default_factory=list)
    quarantined: int = 0
    invoices: list[int] = field(default_factory=list)
    pending_server_actions: int = 0
    errors: list[str] = field(default_factory=list)


def _failed(msg: Message, exc: BaseException | str) -> None:
    msg.status, msg.processed_at = "error", utcnow()
    msg.error = (exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}")[:4000]


class Pipeline:
    """One ingestion run (a sync, an import, a retry): `Pipeline(IngestContext.create(...))`."""

    def __init__(self, ctx: IngestContext) -> None:
        self.ctx = ctx
        # Running totals (reported by the sync and the importer).
        self.quarantined = 0
        self.invoices = 0
        self.ahead: Any = None  # ingest.ahead.Ahead while a big run parses ahead
        self.parsed_ahead = 0  # messages whose parse came from a worker process
        self.saved_ahead = 0  # messages whose saved files a worker process wrote
        # The bytes read to be parsed ahead, kept for the message's turn (read once, not
        # twice), up to HELD_BYTES: beyond, a message is read again when its turn comes.
        self._held: dict[int, bytes] = {}
        self._held_bytes = 0

    @contextlib.contextmanager
    def parsing_ahead(self, expected: int) -> Iterator[bool]:
        """Within the block, `parse_ahead` hands messages to worker processes (when
        `expected` messages make it worth it and the context allows; see `ingest.ahead`).
        Yields whether it does."""
        from wpec_invoicing.ingest import ahead

        workers = ahead.workers_wanted() if (
            self.ahead is None and expected >= ahead.MIN_MESSAGES
            and self.ctx.trust_from_config) else 0
        if not workers:
            yield False
            return
        self.ahead = ahead.Ahead(self.ctx.config, workers, self.ctx.trust)
        try:
            yield True
        finally:
            pool, self.ahead = self.ahead, None
            self._held, self._held_bytes = {}, 0
            pool.close()

    def parse_ahead(self, messages: list[tuple[int, str]],
                    known: dict[str, bytes] | None = None) -> None:
        """Hand recorded messages (id, sha256) to the workers, if parsing ahead; `known`:
        their bytes by sha256 where the caller has them (else read from the archive)."""
        if self.ahead is not None and messages:
            archive = self.ctx.archive
            known = known or {}
            raws = [(mid, sha, known.get(sha) or archive.get(sha)) for mid, sha in messages]
            self.ahead.submit(raws)
            for mid, _sha, raw in raws:
                if self._held_bytes + len(raw) <= HELD_BYTES:
                    self._held[mid] = raw
                    self._held_bytes += len(raw)

    def _raw(self, msg: Message) -> bytes:
        """The message's bytes: held since it was submitted to be parsed ahead, or read."""
        raw = self._held.pop(msg.id, None)
        if raw is None:
            return self.ctx.archive.get(msg.sha256)
        self._held_bytes -= len(raw)
        return raw

    @classmethod
    def for_config(cls, config: Any, store: Any, **kw: Any) -> Pipeline:
        return cls(IngestContext.create(config, store, **kw))

    # -- entry points --------------------------------------------------------------------
    def ingest_raw(self, raw: bytes, *, source: str) -> tuple[int, bool, bool]:
        """Store a message taken from anywhere but an IMAP folder (an imported `.eml`) and,
        when new, process it; (message id, created, processed without error)."""
        with self.ctx.store.session() as session:
            msg, created = store_raw_message(session, self.ctx.archive, raw, source=source)
            message_id = msg.id
        if not created:
            return message_id, False, True
        return message_id, True, self.process_stored(message_id)

    def ingest_invoice_file(self, data: bytes, *, file_name: str, source: str,
                            source_path: str | None = None,
                            metadata: tuple[str, bytes] | None = None,
                            report: Any = None) -> tuple[Registered, bool]:
        """An invoice file that came on its own (an import), not inside a message: the
        stages that apply to it (register and verify, record events) in one transaction;
        (what was registered, whether it duplicates an invoice already received)."""
        with self.ctx.store.session() as session:
            registered, duplicate = register_file(
                self.ctx, session, data, file_name=file_name, source=source,
                source_path=source_path, metadata=metadata, report=report)
            record_events(self.ctx, session, invoice_events(None, [registered]))
        return registered, duplicate

    def process_stored(self, message_id: int, *, account: Any = None) -> bool:
        """Process one archived message in its own transaction; False when it failed (the
        error is recorded on the message and the batch goes on)."""
        store = self.ctx.store
        try:
            with store.session() as session:
                msg = session.get(Message, message_id)
                if msg is None or msg.status != "archived":
                    return True
                self.process(session, msg, self.ctx.archive.get(msg.sha256), account=account)
            return True
        except Exception as exc:
            log.warning("message %s could not be processed: %s", message_id, exc)
            with store.session() as session:
                msg = session.get(Message, message_id)
                if msg is not None:
                    _failed(msg, exc)
            return False

    def process_many(self, message_ids: list[int], *, account: Any = None) -> list[bool]:
        """Process archived messages in one transaction (see the module docstring: one
        savepoint per group, per message only when the group fails); a message that fails
        is rolled back alone and recorded with its error. True/False per id, in order."""
        failed: set[int] = set()
        archive = self.ctx.archive
        # Blobs extracted here (invoice files, quarantined attachments) are made durable
        # together when the block exits, before the commit that refers to them.
        with self.ctx.store.session() as session, archive.deferred_sync():
            # One query for the chunk's messages and their server locations. On PostgreSQL
            # the rows are claimed (FOR UPDATE SKIP LOCKED): two syncs running at once never
            # process the same message; SQLite serialises writers anyway (BEGIN IMMEDIATE).
            # The locations come with the claim (selectinload in the same statement), and
            # the claimed objects are held here: the session's identity map is weak, so
            # objects nobody holds are dropped and each `session.get` would load the message
            # again, then its locations lazily (two queries a message).
            claimed = {m.id: m for m in session.scalars(
                select(Message).where(Message.id.in_(message_ids),
                                      Message.status == "archived")
                .options(selectinload(Message.locations))
                .with_for_update(skip_locked=True, of=Message))}
            todo = [claimed[i] for i in dict.fromkeys(message_ids) if i in claimed]
            for group in _groups(todo, GROUP_BYTES):
                self._process_group(session, group, failed, account)
        return [i not in failed for i in message_ids]

    def _process_group(self, session: Session, group: list[Message], failed: set[int],
                       account: Any) -> None:
        """Recognise the group's messages, then do their database work in one savepoint;
        when that raises, again per message, isolated (the recognition is kept)."""
        ready: list[tuple[Message, bytes, Recognised]] = []
        for msg in group:
            if msg.size > MAX_PROCESS_BYTES:
                _failed(msg, f"message of {msg.size // 2**20} MB is over the "
                             f"{MAX_PROCESS_BYTES // 2**20} MB classification limit: "
                             "archived, not classified")
                failed.add(msg.id)
                continue
            try:
                raw = self._raw(msg)
                parsed, prepared = self.ahead.take(msg.id) if self.ahead is not None \
                    else (None, None)
                self.parsed_ahead += parsed is not None
                ready.append((msg, raw, recognise(raw, self.ctx.trust, parsed=parsed,
                                                  prepared=prepared)))
            except Exception as exc:
                log.warning("message %s could not be processed: %s", msg.id, exc)
                _failed(msg, exc)
                failed.add(msg.id)
        # A message whose rule runs actions or a plugin's step (which may reach outside the
        # database: a printer, a web hook) is done alone, isolated, so that no retry of its
        # group ever runs them twice; the others go in runs, each in one savepoint. In order.
        run: list[tuple[Message, bytes, Recognised]] = []
        for item in ready:
            if self._reaches_out(item[2]):
                self._process_run(session, run, failed, account)
                run = []
                self._process_isolated(session, [item], failed, account)
            else:
                run.append(item)
        self._process_run(session, run, failed, account)

    def _reaches_out(self, seen: Recognised) -> bool:
        """Whether this message's rule runs actions or a plugin document type's step."""
        if seen.doctype is not None and hasattr(seen.doctype, "process"):
            return True
        return bool(effective_rule(self.ctx.config, seen.kind, seen.doctype).actions)

    def _process_run(self, session: Session, run: list[tuple[Message, bytes, Recognised]],
                     failed: set[int], account: Any) -> None:
        """The run's database work in one savepoint; when anything raises, rolled back and
        done again message by message, isolated."""
        if not run:
            return
        savepoint = session.begin_nested()
        filters = None
        try:
            # The observers' look-ups for the whole run (before its writes: nothing the run
            # writes is something an observer looks up), then calls only where they match.
            filters = prepare_group(session, [seen.pec for _m, _r, seen in run],
                                    self.ctx.observers)
            invoices = register_messages(self.ctx, session, [
                (msg, seen.pec, envelope_verdict(seen.pec), _reports(seen))
                for msg, _raw, seen in run if seen.kind == SDI_INVOICE])
            # The run's log rows (rule actions, events) written together at its end.
            with deferred_inserts(session):
                outcomes = [self.process(session, msg, raw, account=account, seen=seen,
                                         isolated=False, filters=filters,
                                         registered=invoices.get(msg.id))
                            for msg, raw, seen in run]
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            log.info("a run of %d messages failed (%s): processing them one by one",
                     len(run), exc)
            self._process_isolated(session, run, failed, account, filters)
            return
        for outcome in outcomes:
            self._count(outcome)

    def _process_isolated(self, session: Session,
                          items: list[tuple[Message, bytes, Recognised]], failed: set[int],
                          account: Any, filters: dict[str, Any] | None = None) -> None:
        """Each message in its own savepoint, each observer and action in its own: one
        failure rolls back only itself and is recorded on the message."""
        for msg, raw, seen in items:
            message_id = msg.id
            savepoint = session.begin_nested()
            try:
                outcome = self.process(session, msg, raw, account=account, seen=seen,
                                       filters=filters)
                savepoint.commit()
                self._count(outcome)
            except Exception as exc:
                savepoint.rollback()
                log.warning("message %s could not be processed: %s", message_id, exc)
                _failed(session.get(Message, message_id), exc)
                failed.add(message_id)

    def _count(self, outcome: Outcome) -> None:
        self.quarantined += outcome.quarantined
        self.invoices += len(outcome.invoices)

    # -- the stages ----------------------------------------------------------------------
    def process(self, session: Session, msg: Message, raw: bytes, *, account: Any = None,
                seen: Recognised | None = None, isolated: bool = True,
                filters: dict[str, Any] | None = None,
                registered: list[Registered] | None = None) -> Outcome:
        """Recognise (unless `seen` says already) → verify → register invoices → decide →
        act → record events. `isolated=False`: observers run without their own savepoints, and
        a failure of one raises (the caller runs the group again isolated); rule actions,
        always in their own, only run for messages the caller processes isolated. `filters`:
        the observers' filters for the message's group (`observers.prepare_group`)."""
        ctx = self.ctx
        seen = seen if seen is not None else recognise(raw, ctx.trust)
        pec = seen.pec
        describe(msg, seen)
        problems = message_problems(pec)
        if registered is None:
            registered = register_invoices(ctx, session, msg, pec, envelope_verdict(pec),
                                           _reports(seen)) \
                if seen.kind == SDI_INVOICE else []
        facts = MessageFacts(
            id=msg.id, sha256=msg.sha256, kind=seen.kind,
            when=pec.timestamp or msg.first_seen_at or datetime.now(UTC),
            sender=pec.sender, subject=pec.original_subject or pec.subject,
            attachments=tuple(pec.attachments), invoices=len(registered),
            account=account.name if account is not None else None,
            locations=tuple(Location(loc.id, loc.account, loc.folder, loc.gone)
                            for loc in msg.locations),
            doctype=seen.doctype)
        plan = decide(facts, ctx.config,
                      seen.prepared.saved if seen.prepared is not None else None)
        self.saved_ahead += plan.saved is not None
        done = carry_out(ctx, session, msg, pec, raw, plan, account=account,
                         doctype=seen.doctype, prepared=seen.prepared)
        errors = record_events(ctx, session, events_of(msg, seen.kind, registered),
                               message=msg, pec=pec, isolated=isolated, filters=filters)
        outcome = Outcome(seen.kind, saved=done.saved, quarantined=done.quarantined,
                          invoices=[r.id for r in registered],
                          pending_server_actions=done.pending_server_actions,
                          errors=problems + errors)
        msg.status = "processed"
        msg.processed_at = utcnow()
        msg.error = "; ".join(outcome.errors)[:4000] or None
        return outcome


def _reports(seen: Recognised) -> dict[str, Any] | None:
    return seen.prepared.reports if seen.prepared is not None else None


def _groups(messages: list[Message], max_bytes: int) -> list[list[Message]]:
    """Consecutive messages up to `max_bytes` of raw bytes a group (one bigger is alone)."""
    out: list[list[Message]] = []
    cur: list[Message] = []
    size = 0
    for msg in messages:
        if cur and size + msg.size > max_bytes:
            out.append(cur)
            cur, size = [], 0
        cur.append(msg)
        size += msg.size
    if cur:
        out.append(cur)
    return out
