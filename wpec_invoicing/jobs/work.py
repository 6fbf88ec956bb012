"""One function per kind of job, over (config, store): what a worker runs and what the
embedded default runs in-process.

WHY one set of functions: "several workers" must not mean a second way of syncing or
sending. `app.mailbox.sync` (and so `wpec sync`) calls `sync_account`, `wpec outbox run`
calls the same `Outbox.run` that `send_account` calls; the queue only decides where and
when. Each function is safe to run twice (a retried job, a stalled job given to another
worker): the sync keys messages by their bytes, the outbox claims items atomically and
resolves uncertain sends from the receipts, exports are recorded per invoice.
"""

from __future__ import annotations

from typing import Any

from wpec_invoicing.errors import WpecError

# The kinds of job, as `wpec jobs` names them.
SYNC, SEND, HOUSEKEEP, EXPORTS, LIFECYCLE = "sync", "send", "housekeep", "exports", "lifecycle"
PER_ACCOUNT = (SYNC, SEND, HOUSEKEEP)
KINDS = (SYNC, SEND, HOUSEKEEP, EXPORTS, LIFECYCLE)


class JobFailed(WpecError):
    """The work ran but did not finish (a server down, exports refused): retry later."""

    exit_code = 3


def sync_account(config: Any, store: Any, name: Any, *, exports: bool = True) -> Any:
    """One sync pass of account `name` (`Mailbox.sync`: archive, classify, rules, server
    actions, the after-sync housekeeping), then, with `exports`, the exports it queued.
    A worker passes `exports=False` and queues an exports job instead (one exporter run at
    a time for the whole deployment). Returns the `SyncResult`."""
    from wpec_invoicing.mailbox.sync import Mailbox, run_pending_exports

    account = config.account(name) if isinstance(name, str) else name  # a name or its config
    result = Mailbox(config, account, store).sync()
    if exports:
        result.exported = run_pending_exports(config, store)
        deliver_event_webhooks(config, store)
    return result


def send_account(config: Any, store: Any, name: str, *, until_empty: bool = False,
                 max_seconds: float | None = None, progress=None) -> Any:
    """Send what is due for account `name` (`Outbox.run`): the `RunResult`."""
    from wpec_invoicing.outbox.queue import Outbox

    outbox = Outbox(config, store)
    return outbox.run(until_empty=until_empty, account=name, max_seconds=max_seconds,
                      progress=progress)


def accounts_with_outbox_work(store: Any) -> set[str]:
    """The accounts whose outbox has an item queued, in flight or to verify (the schedule
    queues send jobs for these only: a hundred idle accounts cost one query, not a hundred
    jobs)."""
    from sqlalchemy import select

    from wpec_invoicing.outbox.records import ACTIVE_STATUSES
    from wpec_invoicing.store.outbox_models import OutboxItem

    with store.session() as s:
        return set(s.scalars(select(OutboxItem.account).where(
            OutboxItem.status.in_(ACTIVE_STATUSES)).distinct()))


def housekeep_account(config: Any, store: Any, name: str) -> Any:
    """One housekeeping pass of account `name` (quota, archive-then-delete): the result, or
    None for an account without IMAP."""
    from wpec_invoicing.housekeeping.deleter import Housekeeper

    account = config.account(name)
    if account.imap is None:
        return None
    return Housekeeper(config, account, store).run()


def deliver_event_webhooks(config: Any, store: Any) -> list[Any]:
    from wpec_invoicing.exporters.events import deliver_events, event_exporters

    if not event_exporters(config):
        return []
    return deliver_events(config, store)


def run_exports(config: Any, store: Any) -> int:
    """Hand the received invoices not yet exported to every exporter, and the new events to
    the event webhooks. Raises `JobFailed` when any went wrong (the queue retries with
    back-off; what went out is recorded and is not sent again)."""
    from wpec_invoicing.exporters.base import run_exports as run

    if not config.exporters:
        return 0
    results = run(config, store)
    failed = [f"{r.exporter}: {r.errors[0] if r.errors else 'failed'}" for r in results
              if r.failed]
    failed += [f"{d.exporter}: {d.failed}" for d in deliver_event_webhooks(config, store)
               if d.failed]
    if failed:
        raise JobFailed("exports failed, retried later: " + "; ".join(failed))
    return sum(r.exported for r in results)


def lifecycle(config: Any, store: Any) -> int:
    """Bring every box's lifecycle state to now and send the notices due (deadlines, expiry):
    the number of boxes followed."""
    from wpec_invoicing.accounts.guard import refresh

    followed = 0
    for account in config.accounts:
        if refresh(config, account, store) is not None:
            followed += 1
    return followed
