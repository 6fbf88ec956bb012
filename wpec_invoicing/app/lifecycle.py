"""Use cases of the mailboxes' lifecycle: where each box stands, and the operator's moves
(renew, suspend, recover, deactivate, reactivate with a signed request). Every function takes
`now` (the injectable clock: tests and the sandbox move time, production passes nothing).

An illegal transition is a `Conflict` (exit 1) whose message says why and what to do.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict, NotFound
from wpec_invoicing.app.models import Model


class AccountStatus(Model):
    name: str
    address: str
    created: datetime | None
    expires_on: date | None
    state: str
    state_since: datetime | None
    days_left: int | None  # in this state, before time moves it on (None: no deadline)
    quota_used_bytes: int | None
    quota_limit_bytes: int | None
    quota_percent: float | None


class LifecycleEventModel(Model):
    at: datetime
    from_state: str | None
    to_state: str
    event: str
    detail: str | None


class NoticeModel(Model):
    at: datetime
    key: str
    channel: str
    recipient: str | None
    subject: str
    status: str
    detail: str | None


class AlertModel(Model):
    id: int  # the shared alert's id: `wpec alerts`, `GET /api/v1/alerts`
    created_at: datetime
    kind: str  # quota-warning | quota-critical | lifecycle | login-refused | account-paused
    message: str


class AccountDetail(AccountStatus):
    history: list[LifecycleEventModel]
    notices: list[NoticeModel]
    alerts: list[AlertModel]  # open ones: quota thresholds, lifecycle


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def _account(ctx: AppContext, name: str):
    for account in ctx.config.accounts:
        if account.name == name:
            return account
    known = ", ".join(a.name for a in ctx.config.accounts) or "none"
    raise NotFound(f"no account named {name!r} (configured: {known})")


def _status(s, ctx: AppContext, account, now: datetime, pending: list) -> AccountStatus:
    """The box brought up to `now`; the notices that fall due are claimed into `pending`
    (delivered by the caller once the transaction committed)."""
    from sqlalchemy import select

    from wpec_invoicing.accounts.service import apply, as_value, claim_notices, timings
    from wpec_invoicing.store.housekeeping_models import QuotaSample

    applied = apply(s, ctx.config, account.name, now)
    pending.extend((account, n) for n in claim_notices(
        s, ctx.config, account.name, account.address, applied, now))
    from wpec_invoicing.store.housekeeping_models import AccountLifecycle

    row = s.get(AccountLifecycle, account.name)
    lc = as_value(row)
    sample = s.scalar(select(QuotaSample).where(QuotaSample.account == account.name)
                      .order_by(QuotaSample.id.desc()).limit(1))
    percent = (round(100 * sample.used_bytes / sample.limit_bytes, 2)
               if sample and sample.limit_bytes else None)
    return AccountStatus(
        name=account.name, address=account.address, created=row.created_at,
        expires_on=lc.expires_on, state=lc.state.value, state_since=lc.since,
        days_left=lc.days_left(now, timings(ctx.config)),
        quota_used_bytes=sample.used_bytes if sample else None,
        quota_limit_bytes=sample.limit_bytes if sample else None, quota_percent=percent)


def _deliver(ctx: AppContext, pending: list) -> None:
    from wpec_invoicing.accounts.service import deliver_notices

    for account, notice in pending:
        deliver_notices(ctx.config, ctx.store, account.name, [notice])


def list_accounts(ctx: AppContext, *, now: datetime | None = None) -> list[AccountStatus]:
    """Every configured box with its state, brought up to `now` (notices due are sent)."""
    now = _now(now)
    pending: list = []
    with ctx.session() as s:
        out = [_status(s, ctx, a, now, pending) for a in ctx.config.accounts]
    _deliver(ctx, pending)
    return out


def show_account(ctx: AppContext, name: str, *, now: datetime | None = None) -> AccountDetail:
    from sqlalchemy import select

    from wpec_invoicing.store.housekeeping_models import (
        AccountLifecycleEvent,
        AccountNotice,
    )
    from wpec_invoicing.store.outbox_models import OutboxAlert

    account = _account(ctx, name)
    now = _now(now)
    pending: list = []
    with ctx.session() as s:
        status = _status(s, ctx, account, now, pending)
    _deliver(ctx, pending)  # first, so the notices listed below show their outcome
    with ctx.session() as s:
        history = [LifecycleEventModel.model_validate(e) for e in s.scalars(
            select(AccountLifecycleEvent).where(AccountLifecycleEvent.account == name)
            .order_by(AccountLifecycleEvent.id))]
        notices = [NoticeModel.model_validate(n) for n in s.scalars(
            select(AccountNotice).where(AccountNotice.account == name)
            .order_by(AccountNotice.id))]
        alerts = [AlertModel.model_validate(a) for a in s.scalars(
            select(OutboxAlert).where(OutboxAlert.account == name,
                                      OutboxAlert.resolved_at.is_(None))
            .order_by(OutboxAlert.id))]
    return AccountDetail(**status.model_dump(), history=history, notices=notices,
                         alerts=alerts)


def _transition(ctx: AppContext, name: str, now: datetime | None, make_op) -> AccountStatus:
    from wpec_invoicing.accounts.lifecycle import IllegalTransition
    from wpec_invoicing.accounts.service import apply, claim_notices, timings

    account = _account(ctx, name)
    now = _now(now)
    t = timings(ctx.config)
    # Time acts first, in its own transaction: a refused move still records that the box
    # expired (and sends that notice) meanwhile.
    pending: list = []
    with ctx.session() as s:
        _status(s, ctx, account, now, pending)
    _deliver(ctx, pending)
    try:
        with ctx.session() as s:
            applied = apply(s, ctx.config, name, now, lambda lc: make_op(lc, now, t))
            pending = [(account, n) for n in claim_notices(
                s, ctx.config, name, account.address, applied, now)]
            status = _status(s, ctx, account, now, pending)
    except IllegalTransition as exc:
        raise Conflict(f"account {name}: {exc}") from None
    _deliver(ctx, pending)
    return status


def renew(ctx: AppContext, name: str, *, until: date, now: datetime | None = None
          ) -> AccountStatus:
    """A renewed contract: new expiry; a suspended box is recovered by it."""
    from wpec_invoicing.accounts import lifecycle as m

    return _transition(ctx, name, now, lambda lc, n, t: m.renew(lc, until, n, t))


def suspend(ctx: AppContext, name: str, *, now: datetime | None = None) -> AccountStatus:
    from wpec_invoicing.accounts import lifecycle as m

    return _transition(ctx, name, now, lambda lc, n, t: m.suspend(lc, n, t))


def recover(ctx: AppContext, name: str, *, now: datetime | None = None) -> AccountStatus:
    from wpec_invoicing.accounts import lifecycle as m

    return _transition(ctx, name, now, lambda lc, n, t: m.recover(lc, n, t))


def deactivate(ctx: AppContext, name: str, *, now: datetime | None = None) -> AccountStatus:
    from wpec_invoicing.accounts import lifecycle as m

    return _transition(ctx, name, now, lambda lc, n, t: m.deactivate(lc, n, t))


def reactivate(ctx: AppContext, name: str, *, request: bytes, until: date | None = None,
               now: datetime | None = None) -> AccountStatus:
    """Back to active on a signed request (intact, trusted, signed by the holder's codice
    fiscale, naming the box). The new expiry defaults to one year from today."""
    from wpec_invoicing.accounts import lifecycle as m
    from wpec_invoicing.accounts.request import check_request
    from wpec_invoicing.ingest.context import load_trust

    account = _account(ctx, name)
    holder = ctx.config.lifecycle.holders.get(name)
    verdict = check_request(request, holder_fiscal_code=holder.fiscal_code if holder else None,
                            address=account.address, trust=load_trust(ctx.config))
    current = _now(now)
    new_expiry = until or (current.date() + timedelta(days=365))
    return _transition(ctx, name, current, lambda lc, n, t: m.reactivate(
        lc, n, new_expiry, verdict.ok, verdict.reason, t))
