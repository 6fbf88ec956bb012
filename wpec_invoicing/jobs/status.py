"""What `wpec jobs` shows, read from procrastinate's tables: per kind and account how many
jobs are queued, running, failed and stalled, and the failed and stalled ones by id.

A job is *stalled* when it is running on a worker whose heartbeat is older than
`stalled_after_seconds` (killed, its machine gone): the periodic recovery gives it back to
the queue; `wpec jobs retry ID` does it at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from wpec_invoicing.jobs.queue import PREFIX

_ROWS = text("""
SELECT j.id, j.task_name, j.args ->> 'account' AS account, j.status::text AS status,
       j.attempts, j.scheduled_at, j.queue_name,
       (j.status = 'doing' AND (j.worker_id IS NULL OR w.last_heartbeat IS NULL
                                OR w.last_heartbeat < :stale)) AS stalled,
       (SELECT max(e.at) FROM procrastinate_events e WHERE e.job_id = j.id) AS changed_at
  FROM procrastinate_jobs j
  LEFT JOIN procrastinate_workers w ON w.id = j.worker_id
 WHERE j.status IN ('todo', 'doing', 'failed')
 ORDER BY j.id
""")

_WORKERS = text("SELECT count(*) FILTER (WHERE last_heartbeat >= :stale), count(*) "
                "FROM procrastinate_workers")


@dataclass
class JobRow:
    id: int
    kind: str
    account: str | None
    state: str  # queued | running | failed | stalled
    attempts: int
    scheduled_at: datetime | None
    changed_at: datetime | None


@dataclass
class Overview:
    counts: dict[tuple[str, str | None], dict[str, int]] = field(default_factory=dict)
    jobs: list[JobRow] = field(default_factory=list)
    workers_alive: int = 0
    workers_silent: int = 0


def _state(status: str, stalled: bool) -> str:
    if stalled:
        return "stalled"
    return {"todo": "queued", "doing": "running"}.get(status, status)


def _kind(task_name: str) -> str:
    return task_name[len(PREFIX):] if task_name.startswith(PREFIX) else task_name


def overview(store: Any, stalled_after: float) -> Overview:
    stale = datetime.now(UTC) - timedelta(seconds=stalled_after)
    out = Overview()
    with store.session() as s:
        for r in s.execute(_ROWS, {"stale": stale}):
            row = JobRow(int(r.id), _kind(r.task_name), r.account, _state(r.status, r.stalled),
                         int(r.attempts), r.scheduled_at, r.changed_at)
            counts = out.counts.setdefault((row.kind, row.account), {
                "queued": 0, "running": 0, "failed": 0, "stalled": 0})
            counts[row.state] += 1
            out.jobs.append(row)
        alive, total = s.execute(_WORKERS, {"stale": stale}).one()
    out.workers_alive, out.workers_silent = int(alive), int(total) - int(alive)
    return out


def find(store: Any, job_id: int, stalled_after: float) -> JobRow | None:
    return next((j for j in overview(store, stalled_after).jobs if j.id == job_id), None)
