"""The job queue as an operator sees it: run a worker, see what is queued, running, failed
or stalled per kind and account, send a failed or stalled job back to the queue.

The queue exists only on PostgreSQL (`store_url`); with SQLite the same work runs in one
process (`wpec sync --watch`, `wpec outbox run`) and these functions say so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import Conflict, NotFound
from wpec_invoicing.app.models import Model


class JobCounts(Model):
    kind: str
    account: str | None = None
    queued: int = 0
    running: int = 0
    failed: int = 0
    stalled: int = 0


class JobModel(Model):
    id: int
    kind: str
    account: str | None = None
    state: str
    attempts: int
    scheduled_at: datetime | None = None
    changed_at: datetime | None = None


class JobsOverview(Model):
    counts: list[JobCounts]
    failed_or_stalled: list[JobModel]
    workers_alive: int
    workers_silent: int


def _require_queue(ctx: AppContext) -> None:
    from wpec_invoicing.jobs.queue import conninfo

    conninfo(ctx.config)  # the clear "needs PostgreSQL" error


def run_worker(ctx: AppContext, *, concurrency: int = 1, queues: list[str] | None = None,
               say: Callable[[str], None] = print) -> None:
    """Run a worker until SIGTERM/SIGINT (the store is migrated first: a fresh database gets
    the queue's schema)."""
    from wpec_invoicing.jobs.runner import run_worker as run

    _require_queue(ctx)
    # The store opened (and so migrated) now, before any job runs; the jobs share it.
    run(ctx.config, concurrency=concurrency, queues=queues, say=say, store=ctx.store)


def overview(ctx: AppContext) -> JobsOverview:
    from wpec_invoicing.jobs.status import overview as read

    _require_queue(ctx)
    data = read(ctx.store, ctx.config.jobs.stalled_after_seconds)
    counts = [JobCounts(kind=k, account=a, **c) for (k, a), c in
              sorted(data.counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))]
    bad = [JobModel(**j.__dict__) for j in data.jobs if j.state in ("failed", "stalled")]
    return JobsOverview(counts=counts, failed_or_stalled=bad, workers_alive=data.workers_alive,
                        workers_silent=data.workers_silent)


def retry(ctx: AppContext, job_id: int) -> JobModel:
    """Queue a failed or stalled job again, to run now. A queued or running job is left
    alone (retrying a running job would run it twice)."""
    from datetime import UTC
    from datetime import datetime as dt

    import procrastinate

    from wpec_invoicing.jobs.queue import conninfo
    from wpec_invoicing.jobs.status import find

    _require_queue(ctx)
    stalled_after = ctx.config.jobs.stalled_after_seconds
    job = find(ctx.store, job_id, stalled_after)
    if job is None:
        raise NotFound(f"job {job_id}: no such job among the queued, running and failed "
                       "(see `wpec jobs`)")
    if job.state not in ("failed", "stalled"):
        raise Conflict(f"job {job_id} is {job.state}: only a failed or stalled job can be "
                       "retried")
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(
        conninfo=conninfo(ctx.config)))
    with app.open():
        app.job_manager.retry_job_by_id(job_id, retry_at=dt.now(UTC))
    return JobModel(**{**job.__dict__, "state": "queued"})
