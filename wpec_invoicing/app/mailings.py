"""Mailings: one personalised PEC per recipient (never Bcc), as `wpec mail send`, started by
one request; progress per recipient; retry of the failed ones.

A mailing's items are ordinary outbox items (sent, throttled, retried and followed like any
other); the `mailings` table only groups them, in the same transaction that queues them.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from pydantic import BaseModel, Field

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict, InvalidRequest, NotFound, Rejected
from wpec_invoicing.app.models import Model, Page, check_limit, cursor_int, decode_cursor, page_of
from wpec_invoicing.app.timefmt import Aware

MAX_RECIPIENTS = 10_000


class MailingIn(BaseModel):
    """`template`: "Subject: ..." line, blank line, body, with {column} placeholders.
    `recipients`: one object per recipient, with an address column (pec, email, address or
    indirizzo) and the template's columns; `attachments` of a recipient: names of files
    given in `files` (base64), separated by ";"."""

    template: str = Field(max_length=200_000)
    recipients: list[dict[str, str]] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    files: dict[str, str] = Field(default_factory=dict, description="name → base64 content")
    account: str | None = None


class RecipientProgress(Model):
    item_id: int
    recipient: str
    status: str
    provider_state: str | None = None
    last_error: str | None = None
    sent_at: Aware | None = None
    delivered_at: Aware | None = None


class MailingOut(Model):
    id: int
    account: str
    subject: str
    recipients: int
    created_at: Aware
    counts: dict[str, int]  # queued / sent / failed / delivered …


class MailingDetail(MailingOut):
    progress: list[RecipientProgress]


def _files(data: MailingIn) -> dict[str, bytes]:
    out = {}
    for name, text in data.files.items():
        try:
            out[name] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest(f"file {name!r}: not base64") from None
    return out


def create_mailing(ctx: AppContext, data: MailingIn, *, actor: str = "cli") -> MailingDetail:
    from wpec_invoicing.outbox.mailmerge import ADDRESS_COLUMNS, TemplateError, parse_template
    from wpec_invoicing.outbox.mailmerge import render as render_row
    from wpec_invoicing.outbox.queue import Outbox, Refusal, Refused
    from wpec_invoicing.store.app_models import Mailing, MailingItem, utcnow
    from wpec_invoicing.store.events import record_event

    try:
        template = parse_template(data.template)
    except TemplateError as exc:
        raise InvalidRequest(f"template: {exc}") from None
    files = _files(data)
    outbox = Outbox(ctx.config, store=ctx.store)
    prepared: list[Any] = []
    for n, row in enumerate(data.recipients, 1):
        row = {str(k).strip(): str(v).strip() for k, v in row.items()}
        column = next((c for c in row if c.lower() in ADDRESS_COLUMNS), None)
        address = row.get(column, "") if column else ""
        label = f"recipient {n} ({address or 'no address'})"
        rendered = render_row(template, row)
        problems = list(rendered) if isinstance(rendered, list) else []
        if column is None:
            problems.append(f"no address column (one of {', '.join(ADDRESS_COLUMNS)})")
        attached = []
        for name in (x.strip() for x in row.get("attachments", "").split(";")):
            if name and name not in files:
                problems.append(f"attachment {name!r} is not among the files sent")
            elif name:
                attached.append((name.rsplit("/", 1)[-1], files[name]))  # folder/x.pdf → x.pdf
        if problems:
            prepared.append(Refusal(label, problems))
            continue
        subject, body = rendered  # type: ignore[misc]
        prepared.append(outbox.prepare_mail(address, subject, body, attached, name=label))
    acct = ctx.config.account(data.account)
    try:
        with ctx.session() as s:
            mailing = Mailing(account=acct.name, subject=template.subject,
                              recipients=len(prepared), actor=actor, created_at=utcnow())
            s.add(mailing)
            s.flush()
            s.info["mailing_id"] = mailing.id  # for the items' events (store.events)
            queued = outbox.enqueue(prepared, account=acct.name, session=s)
            s.info.pop("mailing_id", None)
            for q in queued:
                s.add(MailingItem(mailing_id=mailing.id, item_id=q.id))
            record_event(s, "mailing.created", "mailing", mailing.id,
                         {"recipients": len(queued), "account": acct.name})
            mailing_id = mailing.id
    except Refused as exc:
        raise Rejected(str(exc), [r.to_json() for r in exc.refusals]) from None
    return get_mailing(ctx, mailing_id)


def _counts(items: list[RecipientProgress]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for it in items:
        key = it.provider_state or it.status
        counts[key] = counts.get(key, 0) + 1
    return counts


def _progress(s: Any, mailing_id: int) -> list[RecipientProgress]:
    from sqlalchemy import select

    from wpec_invoicing.store.app_models import MailingItem
    from wpec_invoicing.store.outbox_models import OutboxItem as O

    rows = s.execute(select(O.id.label("item_id"), O.recipient, O.status, O.provider_state,
                            O.last_error, O.sent_at, O.delivered_at)
                     .join(MailingItem, MailingItem.item_id == O.id)
                     .where(MailingItem.mailing_id == mailing_id).order_by(O.id))
    return [RecipientProgress.model_validate(r._mapping) for r in rows]


def get_mailing(ctx: AppContext, mailing_id: int) -> MailingDetail:
    from wpec_invoicing.store.app_models import Mailing

    with ctx.session() as s:
        m = s.get(Mailing, mailing_id)
        if m is None:
            raise NotFound(f"no mailing with id {mailing_id}")
        progress = _progress(s, m.id)
        return MailingDetail(id=m.id, account=m.account, subject=m.subject,
                             recipients=m.recipients, created_at=m.created_at,
                             counts=_counts(progress), progress=progress)


def list_mailings(ctx: AppContext, *, cursor: str | None = None,
                  limit: int = 50) -> Page[MailingOut]:
    from sqlalchemy import select

    from wpec_invoicing.store.app_models import Mailing

    check_limit(limit)
    query = select(Mailing).order_by(Mailing.id).limit(limit + 1)
    after = cursor_int(decode_cursor(cursor), "id")
    if after is not None:
        query = query.where(Mailing.id > after)
    with ctx.session() as s:
        rows = [MailingOut(id=m.id, account=m.account, subject=m.subject,
                           recipients=m.recipients, created_at=m.created_at,
                           counts=_counts(_progress(s, m.id))) for m in s.scalars(query)]
    return page_of(rows, limit)


def retry_failed(ctx: AppContext, mailing_id: int) -> MailingDetail:
    """Queue again the recipients whose message failed (not those refused by the provider
    after acceptance: those went out)."""
    from sqlalchemy import select

    from wpec_invoicing.outbox.records import add_event
    from wpec_invoicing.store.app_models import MailingItem
    from wpec_invoicing.store.outbox_models import OutboxItem

    get_mailing(ctx, mailing_id)
    with ctx.session() as s:
        items = list(s.scalars(select(OutboxItem).join(
            MailingItem, MailingItem.item_id == OutboxItem.id).where(
            MailingItem.mailing_id == mailing_id, OutboxItem.status == "failed")))
        if not items:
            raise Conflict(f"mailing {mailing_id} has no failed recipient")
        for item in items:
            item.status, item.attempts, item.next_attempt_at = "queued", 0, None
            item.claimed_by = item.claimed_at = None
            add_event(s, item, "outbox", "requeued", "retry of a failed mailing recipient")
    return get_mailing(ctx, mailing_id)
