"""The procrastinate app: one task per kind of job, its locks, retries, alerts and schedule.

Locks (procrastinate runs at most one job per lock at a time, across every worker):
- `account:NAME` for sync and housekeeping of one box: never two IMAP passes over one box
  at once (housekeeping deletes what the sync archived);
- `send:NAME` for the outbox of one account: one sender per account (its rate limit is
  shared anyway, in the store);
- `exports` and `lifecycle`: one run at a time for the whole deployment.
Each job also carries a queueing lock of the same name, so at most one job of a kind per
account waits in the queue: a schedule tick while one is queued (or backing off after a
failure) adds nothing, which is what lets a broken box back off instead of piling up.

Retries: a failed job comes back after `retry_base_seconds * 2^attempt` (jittered, capped at
`retry_cap_seconds`), up to `max_attempts`; after `alert_after_failures` failures in a row an
alert opens for the account (`wpec alerts`), closed by the next success.

Stalled jobs: each worker beats every `heartbeat_seconds`; a periodic task gives the running
jobs of a worker silent for `stalled_after_seconds` (killed, machine lost) back to the queue,
where another worker takes them. The work is idempotent (see `work`), so running the rest
of a killed job again is safe.
"""

from __future__ import annotations

import logging
import random
from typing import Any

from wpec_invoicing.errors import ConfigError
from wpec_invoicing.jobs import work

log = logging.getLogger(__name__)

PREFIX = "wpec."
ALERT_KIND = "job-failing"


def conninfo(config: Any) -> str:
    """libpq connection string of the store (PostgreSQL only): the queue lives beside it.
    The password comes from PGPASSWORD or ~/.pgpass, as for the store."""
    from sqlalchemy.engine import make_url

    url = make_url(config.resolved_store_url)
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(
            "the job queue needs PostgreSQL: set store_url = \"postgresql://user@host/db\" "
            f"in {config.source or 'wpec.toml'} (with SQLite, `wpec sync --watch` and "
            "`wpec outbox run` do the same work in one process)")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def lock_of(kind: str, account: str | None) -> str:
    if kind in (work.SYNC, work.HOUSEKEEP):
        return f"account:{account}"
    if kind == work.SEND:
        return f"send:{account}"
    return kind


def queueing_lock_of(kind: str, account: str | None) -> str:
    return f"{kind}:{account}" if account else kind


def backoff(base: float, cap: float, max_attempts: int) -> Any:
    """procrastinate retry strategy: exponential, jittered, capped (`[jobs]`)."""
    from procrastinate import BaseRetryStrategy, RetryDecision

    class Backoff(BaseRetryStrategy):
        def get_retry_decision(self, *, exception: BaseException, job: Any) -> Any:
            if job.attempts + 1 >= max_attempts:
                return None
            delay = min(cap, base * 2 ** job.attempts)
            delay = delay / 2 + random.random() * delay / 2  # noqa: S311 (jitter)
            return RetryDecision(retry_in={"seconds": max(1, round(delay))})

    return Backoff()


class Runtime:
    """What the tasks of one worker process share: the configuration and the store (one
    engine, one pool), opened on first use."""

    def __init__(self, config: Any, store: Any = None) -> None:
        self.config = config
        self._store = store
        self._owned = store is None  # close only a store opened here

    @property
    def store(self) -> Any:
        if self._store is None:
            from wpec_invoicing.store.db import Store

            self._store = Store.from_config(self.config)
        return self._store

    def close(self) -> None:
        if self._store is not None and self._owned:
            self._store.close()


def build_app(config: Any, runtime: Runtime | None = None) -> Any:
    """The procrastinate `App` of this configuration, with every task and the periodic
    schedule of `[jobs]` registered (not opened)."""
    import procrastinate

    jobs_cfg = config.jobs
    rt = runtime or Runtime(config)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(config), kwargs={"application_name": "wpec-jobs"}))
    retry = backoff(jobs_cfg.retry_base_seconds, jobs_cfg.retry_cap_seconds,
                    jobs_cfg.max_attempts)
    app.wpec_runtime = rt  # type: ignore[attr-defined]

    def guarded(kind: str, account: str | None, attempts: int, fn) -> Any:
        try:
            value = fn()
        except Exception as exc:
            if attempts + 1 >= jobs_cfg.alert_after_failures:
                _open_alert(rt.store, kind, account, attempts + 1, exc)
            raise
        _close_alert(rt.store, kind, account)
        return value

    @app.task(name=PREFIX + work.SYNC, queue=work.SYNC, retry=retry, pass_context=True)
    def sync(context, account: str) -> dict:
        from wpec_invoicing.accounts.guard import AccountClosed

        def run() -> Any:
            try:
                return work.sync_account(rt.config, rt.store, account, exports=False)
            except AccountClosed as exc:  # deactivated or purged: nothing to retry or alert
                log.info("%s", exc)
                return None

        result = guarded(work.SYNC, account, context.job.attempts, run)
        if result is None:
            return {"skipped": "account closed"}
        if rt.config.exporters:
            defer(app, work.EXPORTS)
        return {"archived": result.archived, "processed": result.processed,
                "errors": result.errors}

    @app.task(name=PREFIX + work.SEND, queue=work.SEND, retry=retry, pass_context=True)
    def send(context, account: str) -> dict:
        def run() -> Any:
            result = work.send_account(rt.config, rt.store, account,
                                       max_seconds=jobs_cfg.send_max_seconds)
            if result.errors or result.paused_accounts:
                # The items stay queued; a paused account has its own alert already.
                raise work.JobFailed(f"send for {account}: "
                                     + "; ".join(result.errors or ["account paused"]))
            return result

        result = guarded(work.SEND, account, context.job.attempts, run)
        # More to send (a big mailing past send_max_seconds, retries due later): the next
        # tick of send_cron goes on, on whichever worker is free.
        return {"sent": result.sent, "failed": result.failed, "remaining": result.remaining}

    @app.task(name=PREFIX + work.HOUSEKEEP, queue=work.HOUSEKEEP, retry=retry,
              pass_context=True)
    def housekeep(context, account: str) -> None:
        guarded(work.HOUSEKEEP, account, context.job.attempts,
                lambda: work.housekeep_account(rt.config, rt.store, account))

    @app.task(name=PREFIX + work.EXPORTS, queue=work.EXPORTS, retry=retry, pass_context=True)
    def exports(context) -> int:
        return guarded(work.EXPORTS, None, context.job.attempts,
                       lambda: work.run_exports(rt.config, rt.store))

    @app.task(name=PREFIX + work.LIFECYCLE, queue=work.LIFECYCLE, retry=retry,
              pass_context=True)
    def lifecycle(context) -> int:
        return guarded(work.LIFECYCLE, None, context.job.attempts,
                       lambda: work.lifecycle(rt.config, rt.store))

    @app.task(name=PREFIX + "schedule", queue="schedule")
    def schedule(timestamp: int, kind: str) -> int:
        """A periodic tick: queue `kind` for every account (or once)."""
        return schedule_kind(app, kind)

    crons = {work.SYNC: jobs_cfg.sync_cron, work.SEND: jobs_cfg.send_cron,
             work.HOUSEKEEP: jobs_cfg.housekeep_cron, work.EXPORTS: jobs_cfg.exports_cron,
             work.LIFECYCLE: jobs_cfg.lifecycle_cron}
    for kind, cron in crons.items():
        if cron:
            app.periodic(cron=cron, periodic_id=kind, task_kwargs={"kind": kind},
                         queueing_lock=f"schedule:{kind}")(schedule)

    @app.periodic(cron=jobs_cfg.stalled_check_cron, periodic_id="stalled",
                  queueing_lock="recover-stalled")
    @app.task(name=PREFIX + "recover_stalled", queue="schedule")
    async def recover_stalled(timestamp: int) -> int:
        """Give the running jobs of silent workers back to the queue."""
        stalled = await app.job_manager.get_stalled_jobs(
            seconds_since_heartbeat=jobs_cfg.stalled_after_seconds)
        for job in stalled:
            log.warning("job %s (%s %s) was running on a worker that stopped beating: "
                        "queued again", job.id, job.task_name, job.task_kwargs)
            await app.job_manager.retry_job(job)
        return len(stalled)

    return app


def schedule_kind(app: Any, kind: str) -> int:
    """Queue one job of `kind` per configured account (per-account kinds) or one job; the
    ones already queued are left as they are. Returns how many were added."""
    config = app.wpec_runtime.config
    if kind in work.PER_ACCOUNT:
        names = [a.name for a in config.accounts
                 if (a.smtp if kind == work.SEND else a.imap) is not None]
        if kind == work.SEND:  # only the accounts with something to send or to verify
            busy = work.accounts_with_outbox_work(app.wpec_runtime.store)
            names = [n for n in names if n in busy]
        return sum(1 for n in names if defer(app, kind, n) is not None)
    if kind == work.EXPORTS and not config.exporters:
        return 0
    return 1 if defer(app, kind) is not None else 0


_BUSY = "SELECT 1 FROM procrastinate_jobs WHERE queueing_lock = :q AND status IN ('todo', 'doing')"


def defer(app: Any, kind: str, account: str | None = None, *, delay: float = 0) -> int | None:
    """Queue one job; None when one of the same kind and account is already queued OR
    running.

    WHY "or running": procrastinate's queueing lock covers queued jobs only. A job queued
    while its twin runs would make the twin's retry (or its stalled recovery) collide with
    it, and the failing box would lose its back-off. A running job either succeeds (the next
    tick queues the next one) or is retried by procrastinate at its back-off time."""
    from procrastinate.exceptions import AlreadyEnqueued
    from sqlalchemy import text

    with app.wpec_runtime.store.session() as s:
        if s.execute(text(_BUSY), {"q": queueing_lock_of(kind, account)}).first():
            return None

    options: dict[str, Any] = {"lock": lock_of(kind, account),
                               "queueing_lock": queueing_lock_of(kind, account),
                               "task_kwargs": {"account": account} if account else {}}
    if delay:
        options["schedule_in"] = {"seconds": delay}
    try:
        return app.tasks[PREFIX + kind].configure(**options).defer()
    except AlreadyEnqueued:
        return None


def _open_alert(store: Any, kind: str, account: str | None, failures: int,
                exc: BaseException) -> None:
    from sqlalchemy import select

    from wpec_invoicing.store.alerts import raise_alert
    from wpec_invoicing.store.outbox_models import OutboxAlert

    what = f"{kind} of account {account}" if account else kind
    with store.session() as s:
        if s.scalar(select(OutboxAlert.id).where(
                OutboxAlert.kind == ALERT_KIND, OutboxAlert.account == account,
                OutboxAlert.message.startswith(f"{what}:"),
                OutboxAlert.resolved_at.is_(None))) is not None:
            return
        raise_alert(s, ALERT_KIND, f"{what}: failed {failures} times in a row ({exc}); "
                    "retried with back-off (see `wpec jobs`)", account=account)


def _close_alert(store: Any, kind: str, account: str | None) -> None:
    """It works again: close the alert, forget the failed jobs of the same kind and account
    (`wpec jobs` shows what is failing now, not what failed last week)."""
    from sqlalchemy import select, text

    from wpec_invoicing.store.alerts import clear_alert
    from wpec_invoicing.store.outbox_models import OutboxAlert

    what = f"{kind} of account {account}" if account else kind
    with store.session() as s:
        for alert in s.scalars(select(OutboxAlert).where(
                OutboxAlert.kind == ALERT_KIND, OutboxAlert.account == account,
                OutboxAlert.message.startswith(f"{what}:"),
                OutboxAlert.resolved_at.is_(None))):
            clear_alert(s, alert)
        s.execute(text("DELETE FROM procrastinate_jobs WHERE queueing_lock = :q "
                       "AND status = 'failed'"), {"q": queueing_lock_of(kind, account)})
