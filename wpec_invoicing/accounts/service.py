"""The lifecycle on the store: load a box's state, apply an operation or the passing of time,
record the history, act on the product (outbox waits / resumes, sync stops, alerts) and send
the notices, each recorded with its outcome.

Why the outbox is paused rather than its items failed: a suspended box is a state of the
account, not of the messages; they wait with the reason "casella sospesa" and go out by
themselves once the box is recovered.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wpec_invoicing.accounts.lifecycle import Event, Lifecycle, State, Timings, advance
from wpec_invoicing.accounts.notices import Notice, expiry_notices, transition_notice
from wpec_invoicing.store.housekeeping_models import (
    AccountLifecycle,
    AccountLifecycleEvent,
    AccountNotice,
)

log = logging.getLogger(__name__)

SUSPENDED_REASON = "casella sospesa"
# What a provider says when it refuses a read-only (suspended) box's submission or APPEND.
_SUSPENDED_TEXT = re.compile(r"casella sospesa|sospes[ao]|suspended|read-only|sola lettura",
                             re.IGNORECASE)


def timings(config) -> Timings:
    lc = config.lifecycle
    return Timings(lc.suspension_days, lc.retention_days)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def load(session: Session, config, name: str, now: datetime) -> AccountLifecycle:
    """The box's row, created active (expiry from `lifecycle.holders.NAME.expires_on`)."""
    row = session.get(AccountLifecycle, name)
    if row is None:
        holder = config.lifecycle.holders.get(name)
        row = AccountLifecycle(account=name, state=State.ACTIVE.value,
                               expires_on=holder.expires_on if holder else None,
                               state_since=now, created_at=now, updated_at=now)
        session.add(row)
        session.flush()
    return row


def as_value(row: AccountLifecycle) -> Lifecycle:
    return Lifecycle(State(row.state), row.expires_on, _aware(row.state_since))


@dataclass
class Applied:
    lifecycle: Lifecycle
    events: list[Event]


def apply(session: Session, config, name: str, now: datetime,
          op: Callable[[Lifecycle], tuple[Lifecycle, list[Event]]] | None = None) -> Applied:
    """Let time act, then `op` (raises IllegalTransition, nothing written); record and act."""
    row = load(session, config, name, now)
    before = as_value(row)
    if op is None:
        after, events = advance(before, now, timings(config))
    else:
        after, events = op(before)
    if after.state is not State.SUSPENDED and after.state is not State.PURGED:
        seen = _suspension_seen(session, name)
        if seen and after.state is State.ACTIVE and op is None:
            # The provider refused a submission as from a read-only box: it is suspended.
            after = Lifecycle(State.SUSPENDED, after.expires_on, now)
            events.append(Event(now, State.ACTIVE, State.SUSPENDED, "soft-closed",
                                f"the provider treats the box as suspended: {seen}"))
    if after != before or events:  # a quiet check (every sync) writes nothing
        row.state, row.expires_on = after.state.value, after.expires_on
        row.state_since, row.updated_at = after.since, now
    for e in events:
        session.add(AccountLifecycleEvent(account=name, at=e.at, from_state=e.from_state,
                                          to_state=e.to_state, event=e.event, detail=e.detail))
    _act(session, name, after, events, now)
    return Applied(after, events)


def seen_suspended(session: Session, config, name: str, detail: str, now: datetime
                   ) -> Applied:
    """The provider treats the box as suspended (it refused a write: APPEND, STORE, MOVE,
    EXPUNGE): an active box becomes suspended now, with the same consequences as any
    suspension (`_act`: the outbox waits with "casella sospesa", alerts); a box in another
    state is only brought up to `now`."""
    def op(cur: Lifecycle) -> tuple[Lifecycle, list[Event]]:
        cur, events = advance(cur, now, timings(config))
        if cur.state is not State.ACTIVE:
            return cur, events
        return Lifecycle(State.SUSPENDED, cur.expires_on, now), [
            *events, Event(now, State.ACTIVE, State.SUSPENDED, "soft-closed", detail)]
    return apply(session, config, name, now, op)


def _suspension_seen(session: Session, name: str) -> str | None:
    """The outbox's pause reason when it says the provider treats the box as suspended."""
    from wpec_invoicing.store.outbox_models import OutboxAccount

    state = session.get(OutboxAccount, name)
    if state is not None and state.paused and state.pause_reason \
            and state.pause_reason != SUSPENDED_REASON \
            and _SUSPENDED_TEXT.search(state.pause_reason):
        return state.pause_reason
    return None


def _act(session: Session, name: str, lc: Lifecycle, events: list[Event],
         now: datetime) -> None:
    """Make the product follow the state: outbox waits or resumes; alerts open or close."""
    from wpec_invoicing.outbox.records import account_state
    from wpec_invoicing.store.alerts import clear_alert, raise_alert
    from wpec_invoicing.store.outbox_models import OutboxAlert, OutboxItem

    state = account_state(session, name)
    if lc.state is State.ACTIVE:
        if state.paused and state.pause_reason and (
                state.pause_reason == SUSPENDED_REASON
                or _SUSPENDED_TEXT.search(state.pause_reason)):
            state.paused, state.pause_reason = False, None
            for item in session.scalars(select(OutboxItem).where(
                    OutboxItem.account == name, OutboxItem.status == "queued",
                    OutboxItem.last_error == SUSPENDED_REASON)):
                item.last_error = None
            for alert in session.scalars(select(OutboxAlert).where(
                    OutboxAlert.account == name, OutboxAlert.kind == "account-paused",
                    OutboxAlert.resolved_at.is_(None))):
                clear_alert(session, alert, actor="lifecycle", now=now)
        if events:  # back to active (recovered, reactivated): the box's alerts are over
            for alert in list(session.scalars(select(OutboxAlert).where(
                    OutboxAlert.account == name,
                    OutboxAlert.kind.in_(("lifecycle", "login-refused")),
                    OutboxAlert.resolved_at.is_(None)))):
                clear_alert(session, alert, actor="lifecycle", now=now)
        return
    if lc.state is State.SUSPENDED and not (state.paused and state.pause_reason ==
                                            SUSPENDED_REASON):
        state.paused, state.pause_reason, state.paused_at = True, SUSPENDED_REASON, now
        for item in session.scalars(select(OutboxItem).where(
                OutboxItem.account == name, OutboxItem.status == "queued")):
            item.last_error = SUSPENDED_REASON
        raise_alert(session, "account-paused", f"account {name}: {SUSPENDED_REASON} "
                    "(read-only): outgoing messages wait until it is recovered", account=name)
    if lc.state in (State.DEACTIVATED, State.PURGED):
        state.paused = True
        word = "disattivata" if lc.state is State.DEACTIVATED else "cancellata"
        state.pause_reason = f"casella {word}"
        state.paused_at = state.paused_at or now
    if events and lc.state is not State.ACTIVE:
        last = events[-1]
        text = {State.SUSPENDED: "suspended (read-only): sending waits, sync goes on",
                State.DEACTIVATED: "deactivated: not synced; reactivation needs a signed "
                                   "request",
                State.PURGED: "purged at the provider: closed in the product; the archive is "
                              "the only copy"}[lc.state]
        for alert in list(session.scalars(select(OutboxAlert).where(  # superseded
                OutboxAlert.account == name, OutboxAlert.kind == "lifecycle",
                OutboxAlert.resolved_at.is_(None)))):
            clear_alert(session, alert, actor="lifecycle", now=now)
        raise_alert(session, "lifecycle", f"account {name} {text} ({last.detail or ''})",
                    account=name, now=now)


# -- notices --------------------------------------------------------------------------------
@dataclass
class NoticeToSend:
    row_id: int
    channel: str
    recipient: str
    notice: Notice


def claim_notices(session: Session, config, name: str, address: str, applied: Applied,
                  now: datetime) -> list[NoticeToSend]:
    """Record (once per key and channel) the notices due now; return those to deliver."""
    holder = config.lifecycle.holders.get(name)
    notices: list[Notice] = []
    skipped: list[str] = []
    t = timings(config)
    for e in applied.events:
        if e.event != "renewed":
            notices.append(transition_notice(name, address, e, applied.lifecycle, t))
    expiry, superseded = expiry_notices(name, address, applied.lifecycle, now,
                                        list(config.lifecycle.notice_days))
    if expiry:
        notices.append(expiry)
        skipped = superseded
    out: list[NoticeToSend] = []
    channels = (("pec", holder.pec if holder else None),
                ("email", holder.email if holder else None))
    for key in skipped:
        for channel, recipient in channels:
            _insert(session, AccountNotice(account=name, key=key, channel=channel,
                                           recipient=recipient, subject="(superseded)",
                                           status="skipped", at=now,
                                           detail="a closer notice was due"))
    for notice in notices:
        for channel, recipient in channels:
            row = AccountNotice(account=name, key=notice.key, channel=channel,
                                recipient=recipient, subject=notice.subject, at=now,
                                status="pending" if recipient else "skipped",
                                detail=None if recipient else f"no holder {channel} "
                                                              "address configured")
            if _insert(session, row) and recipient:
                out.append(NoticeToSend(row.id, channel, recipient, notice))
    return out


def _insert(session: Session, row: AccountNotice) -> bool:
    exists = session.scalar(select(AccountNotice.id).where(
        AccountNotice.account == row.account, AccountNotice.key == row.key,
        AccountNotice.channel == row.channel))
    if exists is not None:
        return False
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def deliver_notices(config, store, name: str, notices: list[NoticeToSend]) -> None:
    """PEC notices go through the outbox (of `lifecycle.notice_account`, else the box itself:
    they wait with the rest when it is suspended); e-mail notices through the relay now."""
    if not notices:
        return
    for n in notices:
        if n.channel == "pec":
            status, detail = _queue_pec(config, store, name, n)
        else:
            status, detail = _send_email(config, n)
        with store.session() as s:
            row = s.get(AccountNotice, n.row_id)
            row.status, row.detail = status, detail


def _queue_pec(config, store, name: str, n: NoticeToSend) -> tuple[str, str]:
    from wpec_invoicing.outbox.queue import Outbox, dedup_key

    sender = config.lifecycle.notice_account or name
    try:
        outbox = Outbox(config, store)
        prepared = outbox.prepare_mail(n.recipient, n.notice.subject, n.notice.body,
                                       dedup_key=dedup_key("lifecycle", name, n.notice.key),
                                       name=f"notice {n.notice.key}")
        items = outbox.enqueue([prepared], account=sender)
        return "queued", f"outbox item {items[0].id} from {sender}" if items else "queued"
    except Exception as exc:  # a notice that cannot be queued is recorded, never fatal
        return "failed", f"{type(exc).__name__}: {exc}"[:500]


def _send_email(config, n: NoticeToSend) -> tuple[str, str]:
    relay = config.lifecycle.smtp
    if relay is None:
        return "skipped", "no ordinary-mail relay configured (lifecycle.smtp)"
    msg = EmailMessage()
    msg["From"] = relay.sender
    msg["To"] = n.recipient
    msg["Subject"] = n.notice.subject
    msg["Message-ID"] = make_msgid(domain=relay.sender.rpartition("@")[2])
    msg.set_content(n.notice.body)
    try:
        ctx = ssl.create_default_context(cafile=str(relay.ca_file) if relay.ca_file else None)
        if relay.tls == "implicit":
            client = smtplib.SMTP_SSL(relay.host, relay.port, timeout=relay.timeout_seconds,
                                      context=ctx)
        else:
            client = smtplib.SMTP(relay.host, relay.port, timeout=relay.timeout_seconds)
            if relay.tls == "starttls":
                client.starttls(context=ctx)
        with client:
            if relay.username and relay.password_env:
                import os

                client.login(relay.username, os.environ.get(relay.password_env, ""))
            client.send_message(msg)
        return "sent", f"via {relay.host}:{relay.port}"
    except (OSError, smtplib.SMTPException) as exc:
        return "failed", f"{type(exc).__name__}: {exc}"[:500]
