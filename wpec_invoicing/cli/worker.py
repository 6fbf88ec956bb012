"""`wpec worker [--concurrency N] [--queues Q,...]`: run the job queue's work (PostgreSQL).

Thin: parse, call `app.jobs.run_worker`, which runs until SIGTERM or Ctrl-C (running jobs
finish first, for at most `[jobs] shutdown_seconds`). Any number of workers, on any
machines, share the work through the store's PostgreSQL database.
"""

from __future__ import annotations

from typing import Annotated

import typer

from wpec_invoicing.cli import configured, output
from wpec_invoicing.cli.options import ConfigOpt, JsonOpt
from wpec_invoicing.errors import InputError

QUEUES = ("sync", "send", "housekeep", "exports", "lifecycle", "schedule")


def worker_command(
    concurrency: Annotated[int, typer.Option(
        "--concurrency", "-n", metavar="N", min=1, max=256,
        help="How many jobs this worker runs at once (each in its own thread).")] = 4,
    queues: Annotated[str | None, typer.Option(
        "--queues", "-q", metavar="QUEUE[,QUEUE...]", show_default=False,
        help="Only these queues, comma-separated: sync, send, housekeep, exports, "
             "lifecycle, schedule (default: all).")] = None,
    config: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run a worker: sync, send, housekeep, export, follow the boxes, on the schedule of
    `[jobs]` (needs store_url on PostgreSQL). Exit 0 on SIGTERM / Ctrl-C."""
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.app.jobs import run_worker

    chosen = None
    if queues is not None:
        chosen = [q.strip() for q in queues.split(",") if q.strip()]
        unknown = [q for q in chosen if q not in QUEUES]
        if unknown or not chosen:
            raise InputError(f"--queues {queues!r}: unknown queue(s) "
                             f"{', '.join(unknown) or '(none given)'} (use {', '.join(QUEUES)})")
    cfg = configured.require(config, "worker")
    if json_out:  # what starts, for a supervisor's log; progress goes to stderr
        import os
        import socket

        output.dump_json({"worker": f"{socket.gethostname()}:{os.getpid()}",
                          "concurrency": concurrency, "queues": chosen or list(QUEUES)})
    with AppContext(cfg) as ctx:
        run_worker(ctx, concurrency=concurrency, queues=chosen, say=output.note)
