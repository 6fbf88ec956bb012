"""The points where the sync (and housekeeping) meet the lifecycle (kept small: they call
them).

Before a sync: let time act on the box's state (and send the notices due); a deactivated or
purged box is not synced and says so (an alert is open). After a failed sync: a login the
provider refuses, once the contract has expired, is the provider's deactivation, recorded as
such with an alert, instead of a sync retried forever; before expiry it is an alert only (a
changed password looks the same). A write the provider refuses as on a read-only box (STORE,
MOVE, EXPUNGE, APPEND: `mailbox.imap.WritesRefused`) is its suspension, recorded as such
(`after_writes_refused`), as a refused submission is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import select

from wpec_invoicing.accounts.lifecycle import Event, Lifecycle, State
from wpec_invoicing.accounts.service import (
    apply,
    as_value,
    claim_notices,
    deliver_notices,
    load,
    seen_suspended,
)
from wpec_invoicing.errors import WpecError
from wpec_invoicing.store.alerts import raise_alert
from wpec_invoicing.store.housekeeping_models import AccountLifecycle
from wpec_invoicing.store.outbox_models import OutboxAlert

_LOGIN_REFUSED = re.compile(r"login refused|authenticationfailed|authentication failed",
                            re.IGNORECASE)


def _real_now() -> datetime:
    return datetime.now(UTC)


# The clock the sync's checks use (tests and the sandbox set it to the provider's clock).
clock = _real_now


class AccountClosed(WpecError):
    """The box is deactivated or purged: nothing on the server can be reached."""

    exit_code = 1


def _tracked(session, config, name: str) -> bool:
    lifecycle = getattr(config, "lifecycle", None)
    if lifecycle is None:
        return False
    return session.get(AccountLifecycle, name) is not None or name in lifecycle.holders


def refresh(config, account, store, now: datetime | None = None) -> Lifecycle | None:
    """Advance the box's state to `now`, send the notices due; None when not tracked."""
    now = now or clock()
    with store.session() as s:
        if not _tracked(s, config, account.name):
            return None
        applied = apply(s, config, account.name, now)
        notices = claim_notices(s, config, account.name, account.address, applied, now)
    deliver_notices(config, store, account.name, notices)
    return applied.lifecycle


def before_sync(config, account, store, now: datetime | None = None) -> None:
    lc = refresh(config, account, store, now)
    if lc is not None and lc.state in (State.DEACTIVATED, State.PURGED):
        raise AccountClosed(f"account {account.name} is {lc.state} since {lc.since.date()}: "
                            "not synced (see `wpec accounts show " + account.name + "`)")


def after_sync_failure(config, account, store, exc: BaseException,
                       now: datetime | None = None) -> None:
    """Map a refused login to the lifecycle (see the module docstring)."""
    if not _LOGIN_REFUSED.search(str(exc)) or getattr(config, "lifecycle", None) is None:
        return
    now = now or clock()
    with store.session() as s:
        row = load(s, config, account.name, now)
        lc = as_value(row)
        expired = lc.expires_on is not None and lc.expires_on <= now.date()
        if lc.state in (State.ACTIVE, State.SUSPENDED) and expired:
            def op(cur: Lifecycle) -> tuple[Lifecycle, list[Event]]:
                return Lifecycle(State.DEACTIVATED, cur.expires_on, now), [Event(
                    now, cur.state, State.DEACTIVATED, "deactivated",
                    f"the provider refused the login after expiry: {exc}")]
            apply(s, config, account.name, now, op)
        elif s.scalar(select(OutboxAlert.id).where(
                OutboxAlert.account == account.name,
                OutboxAlert.kind == "login-refused",
                OutboxAlert.resolved_at.is_(None))) is None:  # one open alert, not one a try
            raise_alert(s, "login-refused", f"account {account.name}: the provider refused "
                        f"the login ({exc}); if the password is right, "
                        "the box may be deactivated", account=account.name, now=now)


def after_writes_refused(config, account, store, exc: BaseException,
                         now: datetime | None = None) -> Lifecycle:
    """The provider refused a write on the box as on a read-only one: an active box becomes
    suspended (sending waits with "casella sospesa", an alert is open, the holder's notices
    go out); one that is already suspended, deactivated or purged stays as it is. Safe to
    call once per refusal: a second call changes nothing."""
    now = now or clock()
    with store.session() as s:
        applied = seen_suspended(s, config, account.name,
                                 f"the provider refuses writes: {exc}"[:1000], now)
        notices = claim_notices(s, config, account.name, account.address, applied, now)
    deliver_notices(config, store, account.name, notices)
    return applied.lifecycle
