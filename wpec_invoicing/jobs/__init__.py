"""The work a deployment repeats (sync a box, send its outbox, housekeep it, hand invoices to
the exporters, follow the boxes' lifecycle) and the PostgreSQL job queue that spreads it over
any number of workers on any number of machines.

- `work`: one function per kind of job, over (config, store). The embedded default (SQLite,
  one process: `wpec sync`, `wpec outbox run`) and the workers call these same functions;
  choosing PostgreSQL plus `wpec worker` is configuration, not another path for the work.
- `queue`: the procrastinate app: one task per kind (per-account locks, retries with
  back-off, alerts), the periodic schedule read from `[jobs]`, stalled-job recovery.
- `runner`: `wpec worker`: runs the queue until SIGTERM, and comes back when PostgreSQL does.
- `status`: what `wpec jobs` shows (queued, running, failed, stalled per kind and account).

WHY procrastinate: it has what the queue needs (locks per key, queueing locks, periodic
tasks, retries, heartbeats for stalled jobs, graceful shutdown) on PostgreSQL alone, which a
deployment with several workers already runs for the store: no extra server.

May import: the services (`mailbox`, `outbox`, `housekeeping`, `accounts`, `exporters`),
`store`, the configuration, procrastinate. Never `app/` or the interfaces.
"""
