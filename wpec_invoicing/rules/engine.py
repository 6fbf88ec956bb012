"""The rules engine: what happens to a stored message once it is classified.

For each message: the PEC engine says what it is; the rule *kind* is that PEC kind, or
`sdi-invoice` / `sdi-notification` when SdI's payload is inside, or a plugin document type
(entry point group `wpec_invoicing.doctypes`). The kind's rule (`[rules.kinds.<kind>]`, else
the defaults below) says what to save (header JSON, body, attachments under a path template,
with the accepted-formats allow-list and quarantine), whether to move/flag the server copy,
whether to hand invoices to the exporters, and which extra actions to run (`auto_reply`…).

Everything a rule writes to the store happens in the message's processing transaction; moves
and flags are only *logged* there as pending (the sync performs them after commit).
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from wpec_invoicing.rules.actions import ActionContext, build_action
from wpec_invoicing.rules.files import check_format, render_path, write_file
from wpec_invoicing.store.models import Message, QuarantinedAttachment, RuleAction, utcnow

log = logging.getLogger(__name__)

# Bigger messages are archived (streamed) but not parsed: parsing needs several copies in
# memory. Providers cap PEC messages far below this (30-100 MB).
MAX_PROCESS_BYTES = 200 * 1024 * 1024

SDI_INVOICE = "sdi-invoice"
SDI_NOTIFICATION = "sdi-notification"

# Out of the box: keep a readable copy of certified mail and anomalies (header, body, files),
# file SdI invoices for the accounting software (the invoice + its metadata, and hand them to
# the exporters), keep only header and text of ordinary mail (its attachments come from
# anyone), leave receipts and SdI notifications alone (the outbox follows them; the archive
# keeps every byte). Nothing is moved or flagged unless configured. A kind configured in
# wpec.toml replaces its default entirely.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "posta-certificata": {"save": ["header", "body", "attachments"]},
    "anomalia": {"save": ["header", "body", "attachments"]},
    "non-pec": {"save": ["header", "body"]},
    SDI_INVOICE: {"save": ["header", "attachments"], "export": True},
}


@dataclass
class Outcome:
    kind: str
    saved: list[str] = field(default_factory=list)
    quarantined: int = 0
    invoices: list[int] = field(default_factory=list)
    pending_server_actions: int = 0
    errors: list[str] = field(default_factory=list)


def load_trust(config: Any) -> Any:
    """The configured trust (trust_store + the managed store, revocation per `[trust]`), or
    None when no certificate is trusted at all (see `wpec_invoicing.trust`)."""
    from wpec_invoicing.trust import load_trust as load

    return load(config)


_DOCTYPES: list[Any] | None = None


def doctypes() -> list[Any]:
    """Plugin document types: objects with `name`, `recognize(pec, raw) -> bool` and optional
    `default_rule` (dict like a `[rules.kinds.x]` table) and `process(ctx) -> str | None`."""
    global _DOCTYPES
    if _DOCTYPES is None:
        from importlib.metadata import entry_points

        found = []
        for ep in entry_points(group="wpec_invoicing.doctypes"):
            try:
                obj = ep.load()
                found.append(obj() if isinstance(obj, type) else obj)
            except Exception as exc:  # a broken plugin must not stop the sync
                log.error("document type plugin %s cannot be loaded: %s", ep.name, exc)
        _DOCTYPES = found
    return _DOCTYPES


def register_doctype(doctype: Any) -> None:
    """Add a document type at run time (tests, embedding applications)."""
    doctypes().append(doctype)


def rule_kind(pec: Any, raw: bytes) -> tuple[str, Any]:
    """The rule kind of a message (and the plugin doctype when one recognised it)."""
    for doctype in doctypes():
        try:
            if doctype.recognize(pec, raw):
                return doctype.name, doctype
        except Exception as exc:
            log.warning("document type %s failed to recognise: %s", doctype.name, exc)
    sdi = getattr(pec, "sdi", None)
    if sdi is not None:
        return (SDI_INVOICE if sdi.kind == "invoice" else SDI_NOTIFICATION), None
    kind = getattr(pec, "kind", "non-pec")
    return str(getattr(kind, "value", kind)), None


def effective_rule(config: Any, kind: str, doctype: Any = None) -> Any:
    from wpec_invoicing.config import KindRule

    kinds = config.rules.kinds
    if kind in kinds:
        return kinds[kind]
    if doctype is not None and getattr(doctype, "default_rule", None):
        return KindRule.model_validate(doctype.default_rule)
    return KindRule.model_validate(DEFAULT_RULES.get(kind, {}))


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[:end]


def _headers(raw: bytes) -> list[list[str]]:
    """The top header fields as [name, value] pairs (only the header block is parsed)."""
    msg = email.message_from_bytes(_header_block(raw) + b"\r\n\r\n",
                                   policy=email.policy.compat32)
    return [[name, str(value)] for name, value in msg.items()]


def _bodies(raw: bytes) -> dict[str, bytes]:
    """The readable body of a message: text/plain and text/html parts that are not files.

    Walks the MIME tree with the PEC engine's lazy parser: a 50 MB attachment is sliced over,
    never decoded or copied into an `email` object.
    """
    from wpec_invoicing.pec.mime import parse_entity

    found: dict[str, bytes] = {}
    stack = [(parse_entity(raw), 0)]
    seen = 0
    while stack and seen < 500:
        part, depth = stack.pop(0)
        seen += 1
        if part.is_multipart:
            if depth < 10:
                stack.extend((child, depth + 1) for child in part.children())
            continue
        if part.filename() or part.disposition == "attachment":
            continue
        ext = {"text/plain": "txt", "text/html": "html"}.get(part.content_type)
        if ext is None or ext in found:
            continue
        data = part.decoded()
        charset = part.params.get("charset", "utf-8")
        try:
            text = data.decode(charset, "replace")
        except LookupError:
            text = data.decode("utf-8", "replace")
        found[ext] = text.encode("utf-8")
    return found


def plan_server_actions(session: Session, msg: Message, rule: Any, location: Any) -> int:
    """Log the rule's flag/move for one server copy as pending (done by the sync after
    commit). A copy already in the move target is not moved again (that would loop)."""
    planned = 0
    if rule.flag:
        session.add(RuleAction(message_id=msg.id, action="flag", target=" ".join(rule.flag),
                               status="pending", location_id=location.id))
        planned += 1
    if rule.move_to and rule.move_to != location.folder:
        session.add(RuleAction(message_id=msg.id, action="move", target=rule.move_to,
                               status="pending", location_id=location.id))
        planned += 1
    return planned


def rule_for_stored(config: Any, kind: str | None) -> Any:
    """The rule of an already classified message (its kind may be a plugin's)."""
    doctype = next((d for d in doctypes() if d.name == kind), None)
    return effective_rule(config, kind or "non-pec", doctype)


class Processor:
    """Classifies stored messages and applies the rules (one instance per sync or import)."""

    def __init__(self, config: Any, archive: Any, *, trust: Any = None,
                 observers: list[str] | None = None) -> None:
        self.config = config
        self.archive = archive
        self.trust = trust if trust is not None else load_trust(config)
        self.observers = observers
        self._actions: dict[tuple[str, int], Any] = {}
        # Running totals of what the rules did (reported by the sync and the importer).
        self.quarantined = 0
        self.invoices = 0

    # -- entry points --------------------------------------------------------------------
    def process_stored(self, store: Any, message_id: int, *, account: Any = None) -> bool:
        """Process one archived message in its own transaction; False when it failed (the
        error is recorded on the message and the batch goes on)."""
        try:
            with store.session() as session:
                msg = session.get(Message, message_id)
                if msg is None or msg.status != "archived":
                    return True
                raw = self.archive.get(msg.sha256)
                self.process(session, msg, raw, account=account)
            return True
        except Exception as exc:
            log.warning("message %s could not be processed: %s", message_id, exc)
            with store.session() as session:
                msg = session.get(Message, message_id)
                if msg is not None:
                    msg.status = "error"
                    msg.error = f"{type(exc).__name__}: {exc}"[:4000]
                    msg.processed_at = utcnow()
            return False

    def process_many(self, store: Any, message_ids: list[int], *,
                     account: Any = None) -> list[bool]:
        """Process archived messages in one transaction, each in its own savepoint; a
        message that fails is rolled back alone and recorded with its error."""
        results: list[bool] = []
        # Blobs extracted here (invoice files, quarantined attachments) are fsynced one by
        # one, their folders once, before the commit that refers to them.
        with store.session() as session, self.archive.deferred_folder_sync():
            # One query for the chunk's messages and their server locations. On PostgreSQL
            # the rows are claimed (FOR UPDATE SKIP LOCKED): two syncs running at once never
            # process the same message; SQLite serialises writers anyway (BEGIN IMMEDIATE).
            claimed = {m.id for m in session.scalars(
                select(Message).where(Message.id.in_(message_ids),
                                      Message.status == "archived")
                .with_for_update(skip_locked=True, of=Message))}
            session.scalars(select(Message).where(Message.id.in_(claimed))
                            .options(selectinload(Message.locations))).all()
            for message_id in message_ids:
                msg = session.get(Message, message_id) if message_id in claimed else None
                if msg is None or msg.status != "archived":
                    results.append(True)
                    continue
                if msg.size > MAX_PROCESS_BYTES:
                    msg.status, msg.processed_at = "error", utcnow()
                    msg.error = (f"message of {msg.size // 2**20} MB is over the "
                                 f"{MAX_PROCESS_BYTES // 2**20} MB classification limit: "
                                 "archived, not classified")
                    results.append(False)
                    continue
                savepoint = session.begin_nested()
                try:
                    raw = self.archive.get(msg.sha256)
                    outcome = self.process(session, msg, raw, account=account)
                    savepoint.commit()
                    self.quarantined += outcome.quarantined
                    self.invoices += len(outcome.invoices)
                    results.append(True)
                except Exception as exc:
                    savepoint.rollback()
                    log.warning("message %s could not be processed: %s", message_id, exc)
                    msg = session.get(Message, message_id)
                    msg.status = "error"
                    msg.error = f"{type(exc).__name__}: {exc}"[:4000]
                    msg.processed_at = utcnow()
                    results.append(False)
        return results

    def process(self, session: Session, msg: Message, raw: bytes, *,
                account: Any = None) -> Outcome:
        from wpec_invoicing.mailbox.observers import notify
        from wpec_invoicing.pec import inspect

        pec = inspect(raw, trust=self.trust)
        kind, doctype = rule_kind(pec, raw)
        outcome = Outcome(kind)
        self._describe(msg, pec, kind)
        rule = effective_rule(self.config, kind, doctype)

        if kind == SDI_INVOICE:
            outcome.invoices = self._invoices(session, msg, pec)
        if rule.save:
            self._save(session, msg, pec, raw, kind, rule, outcome)
        if doctype is not None and hasattr(doctype, "process"):
            detail = doctype.process(ActionContext(session, self.config, account, msg, pec,
                                                   kind, raw))
            session.add(RuleAction(message_id=msg.id, action=f"doctype:{doctype.name}",
                                   detail=detail))
        for index, spec in enumerate(rule.actions):
            self._run_action(session, msg, pec, raw, kind, account, index, spec.model_dump())
        if account is not None:
            for loc in msg.locations:
                if loc.account == account.name and not loc.gone:
                    outcome.pending_server_actions += plan_server_actions(session, msg, rule, loc)
        if rule.export and outcome.invoices:
            session.add(RuleAction(message_id=msg.id, action="export", status="pending",
                                   target=",".join(rule.export)
                                   if isinstance(rule.export, list) else None))
        errors = notify(session, msg, pec, self.observers)
        if not pec.readable:
            # Malformed (no header, not MIME…): kept and recorded with why, never retried.
            outcome.errors.insert(0, "; ".join(pec.problems) or "unreadable message")
        outcome.errors.extend(errors)
        msg.status = "processed"
        msg.processed_at = utcnow()
        msg.error = "; ".join(outcome.errors)[:4000] or None
        return outcome

    # -- steps ---------------------------------------------------------------------------
    def _describe(self, msg: Message, pec: Any, kind: str) -> None:
        msg.kind = kind
        msg.subject = (pec.subject or None) and pec.subject[:2000]
        msg.sender = (pec.sender or None) and pec.sender[:320]
        msg.message_id = (pec.message_id or None) and pec.message_id[:998]
        msg.ref_message_id = (pec.ref_message_id or None) and pec.ref_message_id[:998]
        msg.identificativo = (pec.identificativo or None) and pec.identificativo[:998]
        msg.sent_at = pec.timestamp
        try:
            msg.details = _json_safe(pec.to_json())
        except Exception as exc:
            msg.details = {"error": f"cannot describe: {exc}"}

    def _invoices(self, session: Session, msg: Message, pec: Any) -> list[int]:
        from wpec_invoicing.rules.passive import register_invoice

        sdi = pec.sdi
        files = dict(sdi.files or {})
        metadata = None
        if sdi.metadata_file and sdi.metadata_file in files:
            metadata = (sdi.metadata_file, files[sdi.metadata_file])
        envelope = pec.signature.to_json() if getattr(pec, "signature", None) else None
        if envelope is not None:
            # Whether SdI really delivered it (certified SdI sender, intact provider signature).
            envelope["sdi_authentic"] = getattr(sdi, "authentic", None)
            envelope["sdi_authentic_reason"] = getattr(sdi, "authentic_reason", None)
        ids = []
        for name in sdi.invoice_files:
            data = files.get(name)
            if data is None:
                continue
            inv, _created = register_invoice(
                session, self.config, self.archive, data, file_name=name, source="pec",
                message_id=msg.id, metadata=metadata,
                identificativo_sdi=sdi.identificativo_sdi, envelope_signature=envelope,
                trust=self.trust)
            ids.append(inv.id)
        return ids

    def _save(self, session: Session, msg: Message, pec: Any, raw: bytes, kind: str, rule: Any,
              outcome: Outcome) -> None:
        when = pec.timestamp or msg.first_seen_at or datetime.now(UTC)
        root = Path(self.config.rules.save_dir)
        folder = render_path(rule.path or self.config.rules.path, root=root, kind=kind,
                             date=when, sender=pec.sender, subject=pec.original_subject
                             or pec.subject, message_id=msg.id, sha256=msg.sha256)
        saved: list[str] = []
        if "header" in rule.save:
            header = {"store_id": msg.id, "sha256": msg.sha256, "kind": kind,
                      "headers": _headers(raw), "pec": msg.details}
            saved.append(str(write_file(folder, "header.json", json.dumps(
                header, ensure_ascii=False, indent=2, default=str).encode())))
        if "body" in rule.save:
            for ext, data in _bodies(pec.original or raw).items():
                saved.append(str(write_file(folder, f"body.{ext}", data)))
        if "attachments" in rule.save:
            allowed = self.config.rules.accepted_extensions
            for att in pec.attachments:
                verdict = check_format(att.name, att.data, allowed)
                if verdict.accepted:
                    saved.append(str(write_file(folder / "attachments", att.name, att.data)))
                    continue
                self._quarantine(session, msg, att, verdict)
                outcome.quarantined += 1
        outcome.saved = saved
        session.add(RuleAction(message_id=msg.id, action="save", target=str(folder),
                               detail=f"{len(saved)} file(s)"
                               + (f", {outcome.quarantined} quarantined"
                                  if outcome.quarantined else "")))

    def _quarantine(self, session: Session, msg: Message, att: Any, verdict: Any) -> None:
        digest = self.archive.put(att.data)
        qdir = Path(self.config.quarantine_dir) / str(msg.id)
        write_file(qdir, att.name, att.data)
        session.add(QuarantinedAttachment(
            message_id=msg.id, file_name=att.name, sha256=digest, size=len(att.data),
            declared_type=att.content_type, sniffed_type=verdict.sniffed, reason=verdict.reason))
        log.warning("message %s: attachment %r quarantined: %s", msg.id, att.name,
                    verdict.reason)

    def _run_action(self, session: Session, msg: Message, pec: Any, raw: bytes, kind: str,
                    account: Any, index: int, spec: dict[str, Any]) -> None:
        name = spec.get("action", "?")
        row = RuleAction(message_id=msg.id, action=name, status="done")
        savepoint = session.begin_nested()
        try:
            key = (kind, index)
            if key not in self._actions:
                self._actions[key] = build_action(spec)
            detail = self._actions[key](ActionContext(session, self.config, account, msg, pec,
                                                      kind, raw))
            savepoint.commit()
            row.detail, row.done_at = detail, utcnow()
        except Exception as exc:
            savepoint.rollback()
            row.status, row.detail = "failed", f"{type(exc).__name__}: {exc}"[:4000]
            log.warning("action %s failed on message %s: %s", name, msg.id, exc)
        session.add(row)
