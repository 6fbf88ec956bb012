"""The message archive: browse (account, folder, kind, sender, dates, subject), detail with
daticert, signature verdict and rule results, the raw `.eml`, attachments, retry failed."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import lru_cache
from typing import Any

from pydantic import Field

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import InvalidRequest, NotFound
from wpec_invoicing.app.models import (
    JsonPage,
    Model,
    Page,
    check_limit,
    cursor_int,
    decode_cursor,
    list_adapter,
    page_of,
    read_page_json_async,
)
from wpec_invoicing.app.sent import _bound
from wpec_invoicing.app.timefmt import Aware

STATUSES = ("archived", "processed", "error")


class MessageSummary(Model):
    id: int
    status: str
    kind: str | None = None
    subject: str | None = None
    sender: str | None = None
    sent_at: Aware | None = None
    first_seen_at: Aware
    source: str
    size: int
    error: str | None = None
    accounts: list[str] = Field(default_factory=list)  # fetched from (none: imported)


class LocationOut(Model):
    account: str
    folder: str
    uidvalidity: int
    uid: int
    gone: bool
    seen_at: Aware


class RuleResult(Model):
    action: str
    target: str | None = None
    status: str
    detail: str | None = None
    created_at: Aware
    done_at: Aware | None = None


class AttachmentOut(Model):
    name: str | None = None
    content_type: str | None = None
    size: int | None = None
    sha256: str | None = None


class MessageDetail(MessageSummary):
    sha256: str
    message_id: str | None = None
    ref_message_id: str | None = None
    identificativo: str | None = None
    processed_at: Aware | None = None
    recipients: list[str]
    daticert: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    sdi: dict[str, Any] | None = None
    bounce: dict[str, Any] | None = None
    problems: list[str]
    attachments: list[AttachmentOut]
    locations: list[LocationOut]
    rule_results: list[RuleResult]
    invoice_ids: list[int]


class RetryResult(Model):
    id: int
    ok: bool
    status: str
    error: str | None = None


class Blob(Model):
    file_name: str
    media_type: str
    data: bytes


def list_messages(ctx: AppContext, *, status: str | None = None, kind: str | None = None,
                  account: str | None = None, folder: str | None = None,
                  sender: str | None = None, subject: str | None = None,
                  since: date | datetime | None = None, until: date | datetime | None = None,
                  cursor: str | None = None, limit: int = 50) -> Page[MessageSummary]:
    """Messages, oldest first. `sender` and `subject` match part of the text; `since` and
    `until` bound the time the message reached us."""
    from sqlalchemy import select

    from wpec_invoicing.store.models import MessageLocation as L

    shape, params = _list_params(status=status, kind=kind, account=account, folder=folder,
                                 sender=sender, subject=subject, since=since, until=until,
                                 cursor=cursor, limit=limit)
    with ctx.read_connection() as conn:
        result = conn.execute(_list_statement(shape, False), params)
        keys = list(result.keys())
        found = [dict(zip(keys, row, strict=True)) for row in result.all()]
        where: dict[int, set[str]] = {}
        if found:
            for mid, acc in conn.execute(select(L.message_id, L.account).where(
                    L.message_id.in_([r["id"] for r in found]))):
                where.setdefault(mid, set()).add(acc)
    for r in found:
        r["accounts"] = sorted(where.get(r["id"], ()))
    return page_of(list_adapter(MessageSummary).validate_python(found), limit)


async def list_messages_json(ctx: AppContext, *, status: str | None = None,
                             kind: str | None = None, account: str | None = None,
                             folder: str | None = None, sender: str | None = None,
                             subject: str | None = None, since: date | datetime | None = None,
                             until: date | datetime | None = None, cursor: str | None = None,
                             limit: int = 50) -> JsonPage:
    """`list_messages` for an asyncio server (the REST API): the same page, as the JSON of
    its `MessageSummary`s.

    Why another read: on PostgreSQL the page is one statement, each message's accounts an
    array built by a subquery (the sync read asks for them in a second round trip), read
    on the event loop and written straight to JSON (`read_page_json_async`). On SQLite
    (no arrays, no async driver) it is `list_messages` on a worker thread."""
    filters = {"status": status, "kind": kind, "account": account, "folder": folder,
               "sender": sender, "subject": subject, "since": since, "until": until,
               "cursor": cursor, "limit": limit}
    if not ctx.reads_async:
        import asyncio

        page = await asyncio.to_thread(list_messages, ctx, **filters)
        return JsonPage(list_adapter(MessageSummary).dump_json(page.items), page.next_cursor)
    shape, params = _list_params(**filters)
    return await read_page_json_async(ctx, MessageSummary, _list_statement(shape, True),
                                      params, limit)


def _list_params(*, status: str | None, kind: str | None, account: str | None,
                 folder: str | None, sender: str | None, subject: str | None,
                 since: date | datetime | None, until: date | datetime | None,
                 cursor: str | None, limit: int) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The filters checked, as a statement shape (which filters are on) and its values."""
    check_limit(limit)
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    params: dict[str, Any] = {"limit": limit + 1}
    after = cursor_int(decode_cursor(cursor), "id")
    if after is not None:
        params["after"] = after
    for name, value in (("status", status), ("kind", kind), ("account", account),
                        ("folder", folder)):
        if value:
            params[name] = value
    # Part of the text: the value as a LIKE pattern, its own % and _ wildcards too.
    if sender:
        params["sender"] = f"%{sender.strip()}%"
    if subject:
        params["subject"] = f"%{subject.strip()}%"
    if since:
        params["since"] = _bound(since)
    if until:
        params["until"] = _bound(until, end=True)
    return tuple(sorted(params)), params


@lru_cache(maxsize=512)
def _list_statement(shape: tuple[str, ...], accounts: bool) -> Any:
    """One statement per combination of filters, values bound by name: built and compiled
    once, not per request. `accounts`: each message's accounts too, as a sorted array
    (PostgreSQL), in code point order as Python sorts them (the "C" collation)."""
    from sqlalchemy import ARRAY, String, bindparam, exists, func, select

    from wpec_invoicing.store.models import Message as M
    from wpec_invoicing.store.models import MessageLocation as L

    cols: list[Any] = [M.id, M.status, M.kind, M.subject, M.sender, M.sent_at,
                       M.first_seen_at, M.source, M.size, M.error]
    if accounts:
        names = (select(L.account).where(L.message_id == M.id).group_by(L.account)
                 .order_by(L.account.collate("C")))
        cols.append(func.array(names.scalar_subquery(), type_=ARRAY(String))
                    .label("accounts"))
    query = select(*cols).order_by(M.id).limit(bindparam("limit"))
    if "after" in shape:
        query = query.where(M.id > bindparam("after"))
    if "status" in shape:
        query = query.where(M.status == bindparam("status"))
    if "kind" in shape:
        query = query.where(M.kind == bindparam("kind"))
    if "account" in shape or "folder" in shape:
        loc = select(L.id).where(L.message_id == M.id)
        if "account" in shape:
            loc = loc.where(L.account == bindparam("account"))
        if "folder" in shape:
            loc = loc.where(L.folder == bindparam("folder"))
        query = query.where(exists(loc))
    if "sender" in shape:
        query = query.where(M.sender.ilike(bindparam("sender")))
    if "subject" in shape:
        query = query.where(M.subject.ilike(bindparam("subject")))
    if "since" in shape:
        query = query.where(M.first_seen_at >= bindparam("since"))
    if "until" in shape:
        query = query.where(M.first_seen_at <= bindparam("until"))
    return query


def _load(s: Any, message_id: int) -> Any:
    from wpec_invoicing.store.models import Message

    msg = s.get(Message, message_id)
    if msg is None:
        raise NotFound(f"no message with id {message_id}")
    return msg


def get_message(ctx: AppContext, message_id: int) -> MessageDetail:
    from sqlalchemy import select

    from wpec_invoicing.store.models import ReceivedInvoice, RuleAction

    with ctx.read() as s:
        msg = _load(s, message_id)
        details = msg.details if isinstance(msg.details, dict) else {}
        data = {c.key: getattr(msg, c.key) for c in msg.__table__.columns}
        data.update(
            recipients=details.get("recipients") or [],
            daticert=details.get("daticert"), signature=details.get("signature"),
            sdi=details.get("sdi"), bounce=details.get("bounce"),
            problems=details.get("problems") or [],
            attachments=details.get("attachments") or [],
            locations=[LocationOut.model_validate(loc) for loc in msg.locations],
            rule_results=[RuleResult.model_validate(r) for r in s.scalars(
                select(RuleAction).where(RuleAction.message_id == msg.id)
                .order_by(RuleAction.id))],
            invoice_ids=list(s.scalars(select(ReceivedInvoice.id).where(
                ReceivedInvoice.message_id == msg.id).order_by(ReceivedInvoice.id))),
        )
        return MessageDetail.model_validate(data)


def raw_message(ctx: AppContext, message_id: int) -> Blob:
    """The message exactly as the server gave it (an .eml)."""
    with ctx.session() as s:
        sha = _load(s, message_id).sha256
    return Blob(file_name=f"message-{message_id}.eml", media_type="message/rfc822",
                data=ctx.store.archive.get(sha))


def attachment(ctx: AppContext, message_id: int, sha256: str) -> Blob:
    """One attachment of a message (of the original inside a PEC envelope), by its sha256
    (as the detail lists them)."""
    import email
    import email.policy

    from wpec_invoicing.pec.names import safe_filename

    raw = raw_message(ctx, message_id).data
    sha256 = sha256.lower()
    pending = [email.message_from_bytes(raw, policy=email.policy.compat32)]
    while pending:
        msg = pending.pop()
        for part in msg.walk():
            if part.get_content_type() == "message/rfc822" and part.get_filename() is None:
                continue
            payload = part.get_payload(decode=True) if not part.is_multipart() else None
            if not payload:
                continue
            if hashlib.sha256(payload).hexdigest() == sha256:
                return Blob(file_name=safe_filename(part.get_filename(), "attachment"),
                            media_type=part.get_content_type(), data=payload)
            if part.get_filename() and part.get_filename().lower().endswith(".eml"):
                pending.append(email.message_from_bytes(payload,
                                                        policy=email.policy.compat32))
    raise NotFound(f"message {message_id} has no attachment with sha256 {sha256}")


def retry(ctx: AppContext, message_ids: list[int] | None = None) -> list[RetryResult]:
    """Process again messages whose processing failed (all of them for None)."""
    from wpec_invoicing.mailbox.retry import retry_failed, statuses

    if message_ids is not None:
        known = statuses(ctx.store, message_ids)
        missing = sorted(set(message_ids) - set(known))
        if missing:
            raise NotFound(f"no message with id {', '.join(map(str, missing))}")
    outcomes = retry_failed(ctx.store, ctx.config,
                            sorted(set(message_ids)) if message_ids is not None else None)
    return [RetryResult(id=o.id, ok=o.ok, status=o.status, error=o.error) for o in outcomes]


def failed(ctx: AppContext, *, status: str | None = "error", limit: int | None = None) -> list:
    """Messages with that status (all for None), oldest first, as `wpec messages list`
    shows them (`mailbox.retry.FailedMessage`)."""
    from wpec_invoicing.mailbox.retry import list_messages as listing

    return listing(ctx.store, status=status, limit=limit)


def statuses(ctx: AppContext, message_ids: list[int]) -> dict[int, str]:
    from wpec_invoicing.mailbox.retry import statuses as known

    return known(ctx.store, message_ids)
