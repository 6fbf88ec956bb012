"""`wpec worker`: run the queue's jobs until SIGTERM/SIGINT, through database outages.

WHY a loop around procrastinate's worker: when PostgreSQL restarts (an upgrade, a fail-over)
the worker's heartbeat or listener fails and procrastinate stops the worker. A deployment
wants it back by itself: so the worker is opened again with a growing pause (1 s, 2 s, ...,
30 s) until the database answers. The jobs it was running when the database went away are
either finished (their status written once it is back) or, if the process had to let them
go, handed to another worker by the stalled-job recovery. A signal ends the loop: running
jobs get `shutdown_seconds` to finish, then are left for the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterable
from typing import Any

from wpec_invoicing.jobs.queue import Runtime, build_app

log = logging.getLogger(__name__)

MAX_PAUSE = 30.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def run_worker(config: Any, *, concurrency: int = 1, queues: Iterable[str] | None = None,
               say: Callable[[str], None] = print, store: Any = None) -> None:
    """Run one worker (`concurrency` jobs at once, from `queues` or all) until a signal.
    Logs each job's start and end on stderr (the journal, under systemd); WPEC_LOG_LEVEL
    (default INFO) sets how much."""
    level = os.environ.get("WPEC_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=getattr(logging, level, logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = Runtime(config, store)
    app = build_app(config, runtime)
    jobs_cfg = config.jobs
    options = {
        "queues": list(queues) if queues else None,
        "concurrency": concurrency,
        "name": worker_name(),
        "install_signal_handlers": False,  # ours below: a signal also ends the reconnect loop
        "delete_jobs": "successful",  # the history is in the events; failures stay to see
        "update_heartbeat_interval": jobs_cfg.heartbeat_seconds,
        "stalled_worker_timeout": jobs_cfg.stalled_after_seconds,
        "shutdown_graceful_timeout": jobs_cfg.shutdown_seconds,
        "fetch_job_polling_interval": min(5.0, jobs_cfg.heartbeat_seconds),
    }
    try:
        asyncio.run(_run(app, options, say))
    finally:
        runtime.close()


async def _run(app: Any, options: dict, say: Callable[[str], None]) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    current: list[asyncio.Task] = []

    def on_signal() -> None:
        if not stopping.is_set():
            say("stopping: finishing the running jobs (a second signal does not hurry them)")
        stopping.set()
        for task in current:
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    pause = 1.0
    first = True
    while not stopping.is_set():
        try:
            async with app.open_async():
                if not first:
                    say("the job queue's database is back: working again")
                first = False
                task = asyncio.create_task(app.run_worker_async(**options))
                current[:] = [task]
                say(f"worker {options['name']} started: {options['concurrency']} job(s) at "
                    f"once, queues {', '.join(options['queues'] or ['all'])}")
                await task
                pause = 1.0
        except asyncio.CancelledError:
            if stopping.is_set():
                break
            raise
        except Exception as exc:  # the database went away (or never came): try again
            say(f"the job queue's database cannot be used ({type(exc).__name__}: "
                f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}); "
                f"trying again in {pause:.0f} s")
        finally:
            current.clear()
        if stopping.is_set():
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=pause)
        pause = min(MAX_PAUSE, pause * 2)
