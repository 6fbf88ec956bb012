"""Sent invoices (active cycle): submit a file or invoice data, list, detail with the whole
timeline, the file as sent, resend a corrected file.

Submitting validates first, as `wpec invoice validate` does, and queues all or nothing: a
refusal raises `Rejected` with the same diagnostics (`report` is `invoice validate --json`'s).
Sending itself is the outbox's job (`wpec outbox run`, or the worker).
"""

from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache
from typing import Any

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict, InvalidRequest, NotFound, Rejected, Unavailable
from wpec_invoicing.app.models import (
    JsonPage,
    Model,
    Page,
    check_limit,
    cursor_int,
    decode_cursor,
    page_of,
    read_as,
    read_page_json_async,
)
from wpec_invoicing.app.timefmt import Aware

MAX_FILE_BYTES = 5 * 1024 * 1024
RESENDABLE = ("rejected", "not-accepted", "send-failed")


class Queued(Model):
    """One item queued by a submission."""

    id: int
    name: str
    file_name: str | None = None
    recipient: str
    message_id: str


class Submission(Model):
    items: list[Queued]


class SentSummary(Model):
    id: int
    kind: str
    account: str
    recipient: str
    subject: str
    file_name: str | None = None
    invoice_number: str | None = None
    status: str
    provider_state: str | None = None
    sdi_state: str | None = None
    identificativo_sdi: str | None = None
    document: dict[str, Any] | None = None
    created_at: Aware
    sent_at: Aware | None = None


class TimelineEntry(Model):
    at: Aware
    source: str
    event: str
    detail: str | None = None
    data: dict[str, Any] | None = None
    message_id: int | None = None  # the stored receipt / notification (raw: messages/{id}/raw)


class SentDetail(SentSummary):
    message_id: str
    progressivo: str | None = None
    attempts: int
    last_error: str | None = None
    provider_identificativo: str | None = None
    provider_reason: str | None = None
    sdi_errors: list[dict[str, Any]] | None = None
    replaces_item_id: int | None = None
    accepted_at: Aware | None = None
    delivered_at: Aware | None = None
    timeline: list[TimelineEntry]


def outbox_service(ctx: AppContext):  # -> outbox.queue.Outbox sharing the context's store
    """The outbox of this context (the command line drives its runs and progress bars)."""
    from wpec_invoicing.outbox.queue import Outbox

    return Outbox(ctx.config, store=ctx.store)


_outbox = outbox_service


def _rejected(exc: Any) -> Rejected:
    return Rejected(str(exc), [r.to_json() for r in exc.refusals])


def _queue(outbox: Any, fn: Any) -> Submission:
    from wpec_invoicing.errors import ConfigError
    from wpec_invoicing.outbox.invoices import RecordError
    from wpec_invoicing.outbox.queue import Refused

    try:
        queued = fn()
    except Refused as exc:
        raise _rejected(exc) from None
    except RecordError as exc:
        raise Rejected(str(exc), [{"name": "invoice", "reasons": [str(exc)]}]) from None
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None
    return Submission(items=[Queued(id=q.id, name=q.name, file_name=q.file_name,
                                    recipient=q.recipient, message_id=q.message_id)
                             for q in queued])


def submit_file(ctx: AppContext, data: bytes, file_name: str, *,
                account: str | None = None, replaces: int | None = None) -> Submission:
    """Validate a ready FatturaPA file (XML or p7m) and queue it for SdI."""
    file_name = (file_name or "").strip()
    if not file_name or "/" in file_name or "\\" in file_name:
        raise InvalidRequest(f"file name {file_name!r}: give the FatturaPA file's own name "
                             "(IT01234567890_00001.xml)")
    outbox = _outbox(ctx)
    prepared = outbox.prepare_invoice_file(data, file_name, replaces_item_id=replaces)
    return _queue(outbox, lambda: outbox.enqueue([prepared], account=account))


def submit_data(ctx: AppContext, text: str, *, account: str | None = None) -> Submission:
    """Invoices as data (the JSON `wpec invoice create --from` takes): numbered, written,
    validated and queued, all or none."""
    from wpec_invoicing.outbox.invoices import RecordError, load_records

    try:
        records, supplier = load_records(text, kind="json", lines_text=None)
    except RecordError as exc:
        raise Rejected(f"invoice data: {exc}", [{"name": "data", "reasons": [str(exc)]}]) \
            from None
    if not records:
        raise InvalidRequest("invoice data: no invoices in it")
    outbox = _outbox(ctx)
    return _queue(outbox, lambda: outbox.create_invoices(records, supplier=supplier,
                                                         account=account))


def resend(ctx: AppContext, item_id: int, data: bytes, file_name: str, *,
           account: str | None = None) -> Submission:
    """Send a corrected file in place of a rejected one (its history links the two)."""
    detail = get_sent(ctx, item_id)
    if detail.kind != "invoice":
        raise Conflict(f"outbox item {item_id} is not an invoice")
    if detail.sdi_state not in RESENDABLE:
        raise Conflict(f"sent invoice {item_id} is {detail.sdi_state}: only a rejected or "
                       "failed invoice is sent again")
    return submit_file(ctx, data, file_name, account=account or detail.account,
                       replaces=item_id)


def _bound(value: date | datetime | None, end: bool = False) -> datetime | None:
    from datetime import UTC

    if value is None or isinstance(value, datetime):
        return value
    return datetime.combine(value, time.max if end else time.min, tzinfo=UTC)


def list_sent(ctx: AppContext, *, states: list[str] | None = None, kind: str | None = "invoice",
              since: date | datetime | None = None, until: date | datetime | None = None,
              text: str | None = None, cursor: str | None = None,
              limit: int = 50) -> Page[SentSummary]:
    """Sent items, oldest first. A state matches the SdI state (delivered, rejected…), the
    queue status (queued, sent, failed) or the provider state (accepted, delivered…)."""
    shape, params = _list_params(states=states, kind=kind, since=since, until=until,
                                 text=text, cursor=cursor, limit=limit)
    return page_of(read_as(ctx, SentSummary, _list_statement(shape), params), limit)


async def list_sent_json(ctx: AppContext, *, states: list[str] | None = None,
                         kind: str | None = "invoice", since: date | datetime | None = None,
                         until: date | datetime | None = None, text: str | None = None,
                         cursor: str | None = None, limit: int = 50) -> JsonPage:
    """`list_sent` for an asyncio server (the REST API): the same page as the JSON of its
    `SentSummary`s (`read_page_json_async`)."""
    shape, params = _list_params(states=states, kind=kind, since=since, until=until,
                                 text=text, cursor=cursor, limit=limit)
    return await read_page_json_async(ctx, SentSummary, _list_statement(shape), params,
                                      limit)


def _list_params(*, states: list[str] | None, kind: str | None,
                 since: date | datetime | None, until: date | datetime | None,
                 text: str | None, cursor: str | None, limit: int
                 ) -> tuple[tuple[str, ...], dict[str, Any]]:
    """The filters checked, as a statement shape (which filters are on, how many states)
    and its values."""
    check_limit(limit)
    params: dict[str, Any] = {"limit": limit + 1}
    after = cursor_int(decode_cursor(cursor), "id")
    if after is not None:
        params["after"] = after
    if kind:
        params["kind"] = kind
    wanted = sorted(set(states or ()))
    if len(wanted) > MAX_STATES:
        raise InvalidRequest(f"at most {MAX_STATES} states at once, not {len(wanted)}")
    for i, state in enumerate(wanted):
        params[f"state{i}"] = state
    if since:
        params["since"] = _bound(since)
    if until:
        params["until"] = _bound(until, end=True)
    if text:
        params["like"] = f"%{text.strip()}%"
    return tuple(sorted(params)), params


MAX_STATES = 20  # more than the outbox's queue, provider and SdI states put together


@lru_cache(maxsize=512)
def _list_statement(shape: tuple[str, ...]) -> Any:
    """One statement per combination of filters, values bound by name: built and compiled
    once, not per request."""
    from sqlalchemy import bindparam, or_, select

    from wpec_invoicing.store.outbox_models import OutboxItem as O

    cols = (O.id, O.kind, O.account, O.recipient, O.subject, O.file_name, O.invoice_number,
            O.status, O.provider_state, O.sdi_state, O.identificativo_sdi, O.document,
            O.created_at, O.sent_at)
    query = select(*cols).order_by(O.id).limit(bindparam("limit"))
    if "after" in shape:
        query = query.where(O.id > bindparam("after"))
    if "kind" in shape:
        query = query.where(O.kind == bindparam("kind"))
    states = [bindparam(name) for name in shape if name.startswith("state")]
    if states:
        query = query.where(or_(O.sdi_state.in_(states), O.status.in_(states),
                                O.provider_state.in_(states)))
    if "since" in shape:
        query = query.where(O.created_at >= bindparam("since"))
    if "until" in shape:
        query = query.where(O.created_at <= bindparam("until"))
    if "like" in shape:
        like = bindparam("like")
        query = query.where(or_(O.file_name.ilike(like), O.invoice_number.ilike(like),
                                O.recipient.ilike(like), O.subject.ilike(like)))
    return query


def _load(s: Any, item_id: int) -> Any:
    from wpec_invoicing.store.outbox_models import OutboxItem

    item = s.get(OutboxItem, item_id)
    if item is None:
        raise NotFound(f"nothing sent with id {item_id}")
    return item


def get_sent(ctx: AppContext, item_id: int) -> SentDetail:
    """One sent item with its whole timeline: queue, attempts, receipts, SdI notifications."""
    with ctx.read() as s:
        item = _load(s, item_id)
        data = {c.key: getattr(item, c.key) for c in item.__table__.columns if c.key != "raw"}
        data["timeline"] = [TimelineEntry(at=e.at, source=e.source, event=e.event,
                                          detail=e.detail, data=e.data,
                                          message_id=e.message_id) for e in item.events]
        return SentDetail.model_validate(data)


def find_sent(ctx: AppContext, name: str) -> list[SentDetail]:
    """Every item sent under a file name (or base name, invoice number, Message-ID, id)."""
    from wpec_invoicing.outbox.queue import find_items

    with ctx.session() as s:
        ids = [i.id for i in find_items(s, name)]
    return [get_sent(ctx, i) for i in ids]


class SentFile(Model):
    file_name: str
    media_type: str
    data: bytes


def sent_file(ctx: AppContext, item_id: int) -> SentFile:
    """The invoice file exactly as it went out (attached to the PEC message)."""
    import email
    import email.policy

    with ctx.session() as s:
        item = _load(s, item_id)
        if not item.file_name:
            raise NotFound(f"outbox item {item_id} carries no invoice file")
        raw, name = item.raw, item.file_name
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.iter_attachments():
        if part.get_filename() == name:
            media = ("application/pkcs7-mime" if name.lower().endswith(".p7m")
                     else "application/xml")
            return SentFile(file_name=name, media_type=media,
                            data=part.get_payload(decode=True) or b"")
    raise NotFound(f"outbox item {item_id}: the file {name} is not in the message")


def sent_message(ctx: AppContext, item_id: int) -> bytes:
    """The PEC message exactly as it was (or will be) sent."""
    with ctx.session() as s:
        return bytes(_load(s, item_id).raw)


def waiting_reasons(ctx: AppContext, account: str | None = None, limit: int = 3) -> list[str]:
    """The distinct last errors of the items still waiting to go out (why nothing went)."""
    from sqlalchemy import select

    from wpec_invoicing.outbox.records import ACTIVE_STATUSES
    from wpec_invoicing.store.outbox_models import OutboxItem

    query = select(OutboxItem.last_error).where(OutboxItem.status.in_(ACTIVE_STATUSES),
                                                OutboxItem.last_error.is_not(None))
    if account:
        query = query.where(OutboxItem.account == account)
    with ctx.read() as s:
        return [str(e) for e in s.scalars(query.distinct().limit(limit))]
