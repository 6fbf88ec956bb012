"""The pipeline: every stage of ingestion, in order, for one message or a batch.

Sync, import and retry all call it. Transactions: `process_many` claims a chunk of archived
messages in one transaction and processes each in its own savepoint (one failure rolls back
only itself and is recorded on the message with why; the batch goes on); `process_stored`
does one message in its own transaction. Everything a message's processing writes commits
with its "processed" status, or not at all; server moves and flags are only queued.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wpec_invoicing.ingest.act import carry_out
from wpec_invoicing.ingest.context import IngestContext
from wpec_invoicing.ingest.events import events_of, invoice_events, record_events
from wpec_invoicing.ingest.invoices import Registered, register_file, register_invoices
from wpec_invoicing.ingest.recognise import describe, recognise
from wpec_invoicing.ingest.store_raw import store_raw_message
from wpec_invoicing.ingest.verify import envelope_verdict, message_problems
from wpec_invoicing.rules.kinds import SDI_INVOICE
from wpec_invoicing.rules.plan import Location, MessageFacts, decide
from wpec_invoicing.store.models import Message, utcnow

log = logging.getLogger(__name__)

# Bigger messages are archived (streamed) but not parsed: parsing needs several copies in
# memory. Providers cap PEC messages far below this (30-100 MB).
MAX_PROCESS_BYTES = 200 * 1024 * 1024


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
        """Process archived messages in one transaction, each in its own savepoint; a
        message that fails is rolled back alone and recorded with its error."""
        results: list[bool] = []
        archive = self.ctx.archive
        # Blobs extracted here (invoice files, quarantined attachments) are fsynced one by
        # one, their folders once, before the commit that refers to them.
        with self.ctx.store.session() as session, archive.deferred_folder_sync():
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
            for message_id in message_ids:
                msg = claimed.get(message_id)
                if msg is None or msg.status != "archived":
                    results.append(True)
                    continue
                if msg.size > MAX_PROCESS_BYTES:
                    _failed(msg, f"message of {msg.size // 2**20} MB is over the "
                                 f"{MAX_PROCESS_BYTES // 2**20} MB classification limit: "
                                 "archived, not classified")
                    results.append(False)
                    continue
                savepoint = session.begin_nested()
                try:
                    outcome = self.process(session, msg, archive.get(msg.sha256),
                                           account=account)
                    savepoint.commit()
                    self.quarantined += outcome.quarantined
                    self.invoices += len(outcome.invoices)
                    results.append(True)
                except Exception as exc:
                    savepoint.rollback()
                    log.warning("message %s could not be processed: %s", message_id, exc)
                    _failed(session.get(Message, message_id), exc)
                    results.append(False)
        return results

    # -- the stages ----------------------------------------------------------------------
    def process(self, session: Session, msg: Message, raw: bytes, *,
                account: Any = None) -> Outcome:
        """Recognise → verify → register invoices → decide → act → record events."""
        ctx = self.ctx
        seen = recognise(raw, ctx.trust)
        pec = seen.pec
        describe(msg, seen)
        problems = message_problems(pec)
        registered = []
        if seen.kind == SDI_INVOICE:
            registered = register_invoices(ctx, session, msg, pec, envelope_verdict(pec))
        facts = MessageFacts(
            id=msg.id, sha256=msg.sha256, kind=seen.kind,
            when=pec.timestamp or msg.first_seen_at or datetime.now(UTC),
            sender=pec.sender, subject=pec.original_subject or pec.subject,
            attachments=tuple(pec.attachments), invoices=len(registered),
            account=account.name if account is not None else None,
            locations=tuple(Location(loc.id, loc.account, loc.folder, loc.gone)
                            for loc in msg.locations),
            doctype=seen.doctype)
        plan = decide(facts, ctx.config)
        done = carry_out(ctx, session, msg, pec, raw, plan, account=account,
                         doctype=seen.doctype)
        errors = record_events(ctx, session, events_of(msg, seen.kind, registered),
                               message=msg, pec=pec)
        outcome = Outcome(seen.kind, saved=done.saved, quarantined=done.quarantined,
                          invoices=[r.id for r in registered],
                          pending_server_actions=done.pending_server_actions,
                          errors=problems + errors)
        msg.status = "processed"
        msg.processed_at = utcnow()
        msg.error = "; ".join(outcome.errors)[:4000] or None
        return outcome
