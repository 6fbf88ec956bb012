"""Use cases only the operators' console has: the dashboard's figures, and the received
invoices' search with totals of the selection.

Why not in `received.py`: the API lists invoices oldest first for integrators that follow a
cursor; an operator wants the newest first, one search box that finds a supplier, a VAT
number, an invoice number, a line's description, a causale, an order/contract/CUP/CIG
reference or an amount, and the totals of what the search selected.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from pydantic import Field

from wpec_invoicing.app.accounts import AccountOut, list_accounts
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.app.mailings import MailingOut, list_mailings
from wpec_invoicing.app.models import Model, Page, check_limit, cursor_int, decode_cursor, page_of
from wpec_invoicing.app.received import STATUSES, ReceivedSummary
from wpec_invoicing.app.timefmt import Money

# SdI states of a sent invoice that still wait for an outcome, and those that failed.
SENT_OPEN = ("queued", "sent", "accepted", "delivered-to-sdi", "not-delivered")
SENT_FAILED = ("rejected", "not-accepted", "send-failed", "refused-by-pa")
CREDIT_NOTES = ("TD04", "TD08")  # nota di credito, nota di credito semplificata


class Dashboard(Model):
    arrivals_today: dict[str, int]  # message kind -> count since midnight (Europe/Rome)
    to_review: int
    sent_open: int
    sent_failed: int
    open_alerts: int
    mailings_running: list[MailingOut]
    accounts: list[AccountOut]


class SupplierGroup(Model):
    """A supplier in a selection, grouped by VAT number (the latest name it used)."""

    vat: str | None
    name: str | None
    invoices: int
    total: Money | None = None


class Totals(Model):
    invoices: int
    taxable: Money
    tax: Money
    total: Money
    net_total: Money  # credit notes subtracted


class ReceivedSelection(Model):
    page: Page[ReceivedSummary]
    totals: Totals
    suppliers: list[SupplierGroup]


def _midnight_rome(now: datetime | None = None) -> datetime:
    from zoneinfo import ZoneInfo

    rome = ZoneInfo("Europe/Rome")
    local = (now or datetime.now(UTC)).astimezone(rome)
    return datetime.combine(local.date(), time.min, tzinfo=rome).astimezone(UTC)


def dashboard(ctx: AppContext, *, now: datetime | None = None) -> Dashboard:
    """Today's arrivals by kind, invoices to review, sent invoices open and failed, open
    alerts, mailings in progress and each mailbox's state."""
    from sqlalchemy import func, or_, select

    from wpec_invoicing.store.models import Message, ReceivedInvoice
    from wpec_invoicing.store.outbox_models import OutboxAlert, OutboxItem

    since = _midnight_rome(now)
    with ctx.session() as s:
        arrivals = dict(s.execute(
            select(func.coalesce(Message.kind, "unknown"), func.count())
            .where(Message.first_seen_at >= since).group_by(Message.kind)).all())
        to_review = s.scalar(select(func.count()).select_from(ReceivedInvoice)
                             .where(ReceivedInvoice.status == "needs-review")) or 0
        # Only the states shown (through the sdi_state index): settled invoices, the bulk of
        # a mature outbox, are never counted.
        by_state = dict(s.execute(
            select(OutboxItem.sdi_state, func.count())
            .where(OutboxItem.kind == "invoice",
                   or_(OutboxItem.sdi_state.in_(SENT_OPEN + SENT_FAILED),
                       OutboxItem.sdi_state.is_(None)))
            .group_by(OutboxItem.sdi_state)).all())
        alerts = s.scalar(select(func.count()).select_from(OutboxAlert)
                          .where(OutboxAlert.resolved_at.is_(None))) or 0
    running = [m for m in list_mailings(ctx, limit=500).items
               if m.counts.get("queued", 0) or m.counts.get("sending", 0)]
    return Dashboard(
        arrivals_today={str(k): int(v) for k, v in arrivals.items()},
        to_review=int(to_review),
        sent_open=sum(int(v) for k, v in by_state.items() if (k or "queued") in SENT_OPEN),
        sent_failed=sum(int(v) for k, v in by_state.items() if k in SENT_FAILED),
        open_alerts=int(alerts), mailings_running=running, accounts=list_accounts(ctx))


def _money(value: Any) -> Decimal | None:
    """A sum as SQL returns it (Decimal on PostgreSQL, float on SQLite) to cents."""
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"))


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _matching_ids(dialect: str, words: str) -> Any:
    """Ids of the invoices whose columns, line descriptions or data as read (causale,
    order, contract, CUP, CIG...) contain `words`: one union of three narrow scans, far
    cheaper than OR-ing them row by row. SQLite's LIKE ignores ASCII case already (ILIKE
    would wrap every value in lower()); PostgreSQL needs ILIKE."""
    from sqlalchemy import String, Text, cast, or_, select, union

    from wpec_invoicing.store.models import InvoiceLine
    from wpec_invoicing.store.models import ReceivedInvoice as R

    pattern = f"%{_escape_like(words)}%"

    def match(column: Any) -> Any:
        if dialect == "sqlite":
            return column.like(pattern, escape="\\")
        return column.ilike(pattern, escape="\\")

    return union(
        select(R.id).where(or_(*(match(c) for c in (
            R.supplier_name, R.supplier_vat, R.supplier_fiscal_code, R.number, R.file_name)))),
        select(InvoiceLine.invoice_id).where(match(InvoiceLine.description)),
        select(R.id).where(match(cast(cast(R.report, Text), String))))


def search_received(ctx: AppContext, *, status: str | None = None,
                    supplier_vat: str | None = None, since: date | None = None,
                    until: date | None = None, text: str | None = None,
                    amount: Decimal | None = None, cursor: str | None = None,
                    limit: int = 50) -> ReceivedSelection:
    """Received invoices, newest first, with the totals and suppliers of the whole selection.

    `text` matches the supplier's name, VAT number or codice fiscale, the invoice number, the
    file name, a line's description and the invoice's own data as read (causale, order,
    contract, CUP, CIG...); `amount` matches the total or the taxable amount exactly.
    """
    from sqlalchemy import or_, select

    from wpec_invoicing.store.models import ReceivedInvoice as R

    check_limit(limit)
    if status is not None and status not in STATUSES:
        raise InvalidRequest(f"status {status!r}: expected one of {', '.join(STATUSES)}")
    if since and until and since > until:
        raise InvalidRequest(f"since {since} is after until {until}")
    conditions: list[Any] = []
    if status:
        conditions.append(R.status == status)
    if supplier_vat:
        conditions.append(R.supplier_vat == supplier_vat.strip().upper())
    if since:
        conditions.append(R.invoice_date >= since)
    if until:
        conditions.append(R.invoice_date <= until)
    if amount is not None:
        conditions.append(or_(R.total == amount, R.taxable == amount))
    words = text.strip() if text and text.strip() else None
    columns = (R.id, R.status, R.file_name, R.source, R.supplier_vat, R.supplier_fiscal_code,
               R.supplier_name, R.document_type, R.number, R.invoice_date, R.currency, R.total,
               R.received_at)
    query = select(*columns).where(*conditions).order_by(R.id.desc()).limit(limit + 1)
    before = cursor_int(decode_cursor(cursor), "id")
    if before is not None:
        query = query.where(R.id < before)
    with ctx.session() as s:
        if words:
            ids = s.scalars(_matching_ids(s.bind.dialect.name, words)).all()
            # A handful of matches (the usual case) is passed as a list: the three
            # statements below then cost nothing; many go back in as the subquery.
            conditions.append(R.id.in_(ids) if len(ids) <= 5_000
                              else R.id.in_(_matching_ids(s.bind.dialect.name, words)))
            query = query.where(conditions[-1])
        rows = [ReceivedSummary.model_validate(r._mapping) for r in s.execute(query)]
        key = (str(s.bind.url), status, supplier_vat, since, until, words, amount)
        totals, top = _cached_figures(s, key, conditions)
    return ReceivedSelection(page=page_of(rows, limit), totals=totals, suppliers=top)


# The figures of recent selections, per process: an operator paging through a selection
# ("More"), or coming back to it, does not sum 100,000 invoices again. An entry is used only
# while the store's newest invoice and newest decision are the ones it was computed with (so
# an arrival or an approval shows at once) and for FIGURES_TTL seconds at most (any other
# change, e.g. a re-verification by another process, shows within that time).
FIGURES_TTL = 30.0
_figures: dict[tuple, tuple[tuple, float, Totals, list[SupplierGroup]]] = {}


def _cached_figures(s: Any, key: tuple,
                    conditions: list[Any]) -> tuple[Totals, list[SupplierGroup]]:
    import time as clock

    from sqlalchemy import func, select

    from wpec_invoicing.store.app_models import InvoiceReview
    from wpec_invoicing.store.models import ReceivedInvoice as R

    version = tuple(s.execute(select(select(func.max(R.id)).scalar_subquery(),
                                     select(func.max(InvoiceReview.id)).scalar_subquery())
                              ).one())
    hit = _figures.get(key)
    if hit is not None and hit[0] == version and hit[1] > clock.monotonic():
        return hit[2], hit[3]
    totals, top = _selection_figures(s, conditions)
    if len(_figures) >= 256:
        _figures.clear()
    _figures[key] = (version, clock.monotonic() + FIGURES_TTL, totals, top)
    return totals, top


def _selection_figures(s: Any, conditions: list[Any]) -> tuple[Totals, list[SupplierGroup]]:
    """The totals of the selection and its 20 biggest suppliers (by invoices).

    Why three small statements rather than one grouped pass that sums per supplier: over
    100,000 invoices on PostgreSQL, summing numeric columns per supplier forces a hash
    aggregate over every row (100+ ms); the selection's sums with no grouping run in
    parallel (~30 ms), counting per VAT number alone walks its index (~25 ms), and the
    amounts and newest name are then read for the 20 suppliers shown only.
    """
    from sqlalchemy import func, or_, select

    from wpec_invoicing.store.models import ReceivedInvoice as R

    zero = Decimal("0.00")
    count, total, taxable, tax, credit = s.execute(
        select(func.count(), func.sum(R.total), func.sum(R.taxable), func.sum(R.tax),
               func.sum(R.total).filter(R.document_type.in_(CREDIT_NOTES)))
        .where(*conditions)).one()
    total, credit = _money(total) or zero, _money(credit) or zero
    totals = Totals(invoices=int(count or 0), taxable=_money(taxable) or zero,
                    tax=_money(tax) or zero, total=total, net_total=total - 2 * credit)
    n = func.count().label("n")
    ranked = s.execute(select(R.supplier_vat, n).where(*conditions)
                       .group_by(R.supplier_vat).order_by(n.desc(), R.supplier_vat)
                       .limit(20)).all()
    if not ranked:
        return totals, []
    vats = [vat for vat, _n in ranked if vat is not None]
    same_vat = R.supplier_vat.in_(vats)
    if len(vats) < len(ranked):  # invoices without a VAT number form a group too
        same_vat = or_(same_vat, R.supplier_vat.is_(None))
    amounts = {vat: (amount, newest) for vat, amount, newest in s.execute(
        select(R.supplier_vat, func.sum(R.total), func.max(R.id))
        .where(*conditions, same_vat).group_by(R.supplier_vat))}
    names = dict(s.execute(select(R.id, R.supplier_name).where(
        R.id.in_([newest for _amount, newest in amounts.values()]))).all())
    return totals, [SupplierGroup(vat=vat, name=names.get(amounts.get(vat, (0, 0))[1]),
                                  invoices=int(invoices),
                                  total=_money(amounts.get(vat, (None, 0))[0]))
                    for vat, invoices in ranked]


class Bodies(Model):
    """What a person reads of a message: its text body, and its HTML body made inert."""

    text: str | None = None
    html: str | None = None  # sanitised: no script, no event handler, no remote fetch
    # The message's own header lines, in order (for a PEC envelope: the provider's, with
    # X-Ricevuta, X-Trasporto, X-Riferimento-Message-ID...).
    headers: list[tuple[str, str]] = Field(default_factory=list)
    missing: bool = False  # the raw message is not in the archive (the page says so)


# Tags and attributes a mail body may keep: formatting only. Everything that runs, loads or
# submits (script, style, iframe, form, on* handlers, remote images) goes.
_HTML_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "div", "em", "font",
              "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "small",
              "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
              "tr", "u", "ul"}
MAX_BODY = 2_000_000


def sanitise_html(html: str) -> str:
    """An HTML body with only formatting left (links keep their href, never javascript:)."""
    import nh3

    return nh3.clean(html[:MAX_BODY], tags=_HTML_TAGS,
                     attributes={"a": {"href", "title"}, "td": {"colspan", "rowspan"},
                                 "th": {"colspan", "rowspan"}},
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")


def _readable_message(raw: bytes):  # -> email.message.EmailMessage
    """The message a person wrote: inside a PEC envelope (postacert.eml), else the message."""
    import email
    import email.policy

    msg = email.message_from_bytes(raw, policy=email.policy.default)
    for part in msg.walk():
        if part.get_content_type() == "message/rfc822":
            name = (part.get_filename() or "postacert.eml").lower()
            if name == "postacert.eml":
                inner = part.get_payload()
                if isinstance(inner, list) and inner:
                    return inner[0]
    return msg


def message_bodies(ctx: AppContext, message_id: int) -> Bodies:
    """The text and (sanitised) HTML bodies and the header lines of an archived message
    (`missing` when its raw bytes are not in the archive: the page then says so)."""
    import email
    import email.policy

    from wpec_invoicing.app.messages import raw_message
    from wpec_invoicing.store.archive import ArchiveError

    try:
        raw = raw_message(ctx, message_id).data
    except ArchiveError:
        return Bodies(missing=True)
    outer = email.message_from_bytes(raw, policy=email.policy.compat32)
    headers = [(name, _header_text(value)) for name, value in outer.items()][:200]
    msg = _readable_message(raw)

    def content(kind: str) -> str | None:
        try:
            part = msg.get_body(preferencelist=(kind,))
            return part.get_content()[:MAX_BODY] if part is not None else None
        except (LookupError, ValueError, AttributeError):  # unknown charset, broken part
            return None

    html = content("html")
    return Bodies(text=content("plain"), html=sanitise_html(html) if html else None,
                  headers=headers)


def _header_text(value: object) -> str:
    """A header as a person reads it: RFC 2047 words decoded, folding undone; a header that
    cannot be decoded is shown as it came."""
    from email.header import decode_header, make_header

    text = str(value)
    with contextlib.suppress(ValueError, LookupError, UnicodeDecodeError):
        text = str(make_header(decode_header(text)))
    return " ".join(text.split())[:2000]


def invoice_attachments(ctx: AppContext, invoice_id: int) -> list[Any] | None:
    """The embedded attachments of a received invoice (app.received.AttachmentOut), or None
    when its original file is missing from the archive: the detail page then says so and
    still shows what the store knows, rather than failing as a whole."""
    from wpec_invoicing.app.received import attachments
    from wpec_invoicing.store.archive import ArchiveError

    try:
        return attachments(ctx, invoice_id)
    except ArchiveError:
        return None


class Retention(Model):
    """How long housekeeping keeps each kind of message on a mailbox's server (None: never
    deleted automatically), and the usage target that may delete sooner."""

    account: str
    days: list[tuple[str, int | None]]  # (retention group or kind, days)
    usage_target_percent: float | None = None


def retention(ctx: AppContext) -> dict[str, Retention]:
    """Each configured mailbox's retention as housekeeping applies it (its own settings over
    the defaults), a whole group on one line when all its kinds share a value."""
    from wpec_invoicing.config import RETENTION_GROUPS

    out = {}
    for account in ctx.config.accounts:
        days, target = ctx.config.housekeeping.retention_for(account.name)
        rows: list[tuple[str, int | None]] = []
        seen: set[str] = set()
        for group, kinds in RETENTION_GROUPS.items():
            values = {days.get(k) for k in kinds}
            if len(values) == 1:
                rows.append((group, values.pop()))
            else:
                rows += [(k, days.get(k)) for k in kinds]
            seen.update(kinds)
        rows += [(k, v) for k, v in days.items() if k not in seen]
        out[account.name] = Retention(account=account.name, days=rows,
                                      usage_target_percent=target)
    return out
