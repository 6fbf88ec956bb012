"""Recognition ahead of the database work, in a worker process, for big runs.

Why: in the first sync of a big box the classifying thread is the bottleneck. A third of its
work is the PEC engine's parse (`pec.inspect`: MIME, envelope signature, daticert, SdI
payload), which is pure (bytes in, values out), while the machine's other core sits mostly
idle (the fetcher thread waits on the network and the disk). So once a batch is recorded, its
messages are parsed in a worker process while this thread does the database work of the
batches before it; the result (a `PecMessage`, ≈ 3 KB pickled, 0.03 ms each way against
0.6 ms for the parse) comes back when that message's turn comes, with the later stages'
pure work on it (`recognise.prepare`: the record's JSON view, the header fields and bodies a
save rule writes, the invoice files' verdicts: XSD, SdI checks, signature).

Why processes: the parse is Python code, and threads would only take turns at the
interpreter lock. Why only for big runs: a worker process costs ≈ 0.5 s of CPU to start (the
imports), more than a sync of a few messages spends on parsing them. Why only when `wpec`
itself is the program: a worker process is started by re-importing the main module (the
`spawn` method, the only one safe in a process with threads), which an application that
embeds us may not guard; there, and whenever a worker fails, dies or its result cannot be
read, the message is simply parsed in this thread as before. Nothing else changes: the same
function with the same trust store (`load_trust(config)` in the worker) gives the same
verdict, and the rule kind (with any plugin's document types) is still decided here.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

log = logging.getLogger(__name__)

# Start a worker only for a run with at least this many messages waiting to be classified.
MIN_MESSAGES = 300
# Messages a worker parses per task (fewer round trips; small enough to keep it busy).
TASK_MESSAGES = 20
# While the worker starts, the classifying thread parses queued messages itself (tests that
# need every message to go through the worker turn this off).
STEAL_WHILE_STARTING = True
# `WPEC_RECOGNISE_WORKERS=0` turns the workers off (diagnosis); default: the spare cores.
ENV_WORKERS = "WPEC_RECOGNISE_WORKERS"

_trust: Any = None


def workers_wanted() -> int:
    """How many worker processes: the cores beyond the classifying thread's (at most 3),
    none where this program is not `wpec` (see the module docstring)."""
    raw = os.environ.get(ENV_WORKERS)
    if raw is not None:
        try:
            return max(0, min(8, int(raw)))
        except ValueError:
            log.warning("%s=%r is not a number: recognition workers off", ENV_WORKERS, raw)
            return 0
    if not _main_is_wpec():
        return 0
    return max(0, min(3, (os.cpu_count() or 1) - 1))


def _main_is_wpec() -> bool:
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "wpec_invoicing.__main__":
        return True
    return os.path.basename(getattr(main, "__file__", "") or "") == "wpec"


def _init_worker(config: Any) -> None:
    global _trust
    from wpec_invoicing.ingest.context import load_trust

    # Ctrl-C reaches the whole process group: the parent stops the pool, the worker must not
    # die printing a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _trust = load_trust(config)
    # The parse's and the later stages' modules, loaded now rather than in the first task.
    import wpec_invoicing.ingest.recognise
    import wpec_invoicing.ingest.save
    import wpec_invoicing.pec
    import wpec_invoicing.rules.passive  # noqa: F401


def _inspect_many(raws: list[bytes]) -> list[tuple[Any, Any]]:
    """In the worker: `pec.inspect` of each and the later stages' pure work on it
    (`recognise.prepare`); a message where either raises is (None, None): the classifying
    thread does it again and records the error the usual way."""
    from wpec_invoicing.ingest.recognise import prepare
    from wpec_invoicing.pec import inspect

    out: list[tuple[Any, Any]] = []
    for raw in raws:
        try:
            pec = inspect(raw, trust=_trust)
            out.append((pec, prepare(pec, raw, _trust)))
        except Exception:
            out.append((None, None))
    return out


class Ahead:
    """Parses submitted messages in worker processes; `take` hands each result over once."""

    def __init__(self, config: Any, workers: int) -> None:
        import multiprocessing

        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(config,))
        self._futures: dict[int, tuple[Future, int]] = {}  # message id -> (task, index)
        self._broken = False
        self._started = False  # the worker has finished a task (it is up)

    def submit(self, messages: list[tuple[int, bytes]]) -> None:
        """Queue (message id, raw bytes) pairs for parsing, a task per TASK_MESSAGES."""
        if self._broken:
            return
        for start in range(0, len(messages), TASK_MESSAGES):
            part = messages[start:start + TASK_MESSAGES]
            try:
                task = self._pool.submit(_inspect_many, [raw for _id, raw in part])
            except Exception as exc:  # a dead pool: parse here from now on
                self._give_up(exc)
                return
            if not self._started:
                task.add_done_callback(self._note_started)
            for index, (message_id, _raw) in enumerate(part):
                self._futures[message_id] = (task, index)

    def take(self, message_id: int) -> tuple[Any, Any]:
        """(the parsed message, its `recognise.Prepared`), or (None, None): not submitted,
        not started yet, or the worker failed (parse here)."""
        entry = self._futures.pop(message_id, None)
        if entry is None:
            return None, None
        task, index = entry
        if task.cancelled() or (STEAL_WHILE_STARTING and not self._started
                                and not task.done() and task.cancel()):
            # While the worker is still starting (≈ 0.5 s of imports), this thread parses
            # the messages itself rather than wait for it.
            return None, None
        try:
            return task.result()[index]
        except Exception as exc:
            self._give_up(exc)
            return None, None

    def _note_started(self, task: Future) -> None:
        if not task.cancelled():
            self._started = True  # a plain flag, set once from the pool's thread

    def _give_up(self, exc: BaseException) -> None:
        if not self._broken:
            log.warning("recognition worker failed (%s): parsing in-process", exc)
        self._broken = True

    def close(self) -> None:
        self._futures.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
