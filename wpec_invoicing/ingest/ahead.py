"""Recognition ahead of the database work, in a worker process, for big runs.

Why: in the first sync of a big box the classifying thread is the bottleneck. A third of its
work is the PEC engine's parse (`pec.inspect`: MIME, envelope signature, daticert, SdI
payload), which is pure (bytes in, values out), while the machine's other core sits mostly
idle (the fetcher thread waits on the network and the disk). So once a batch is recorded, its
messages are parsed in a worker process while this thread does the database work of the
batches before it; the result (a `PecMessage`, ≈ 3 KB pickled, 0.03 ms each way against
0.6 ms for the parse) comes back when that message's turn comes, with the later stages'
pure work on it (`recognise.prepare`: the record's JSON view, the invoice files' verdicts:
XSD, SdI checks, signature) and the files the message's rule saves where the accounting
software looks (`ingest.save.save_ahead`: the classifying thread then only records them).

Balance: which side is slower depends on the box and the machine (the classifying thread
in a big first sync; the worker in a smaller one, or when the other core is busy). So when
the classifying thread reaches a message whose task the worker has not finished, it does
not wait: it takes back the next tasks the worker has not started and does them itself
(the same function, the same trust and config), until that message's is done.

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

import collections
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
# While the worker starts, the classifying thread parses queued messages itself, and later
# takes back tasks the worker has not started rather than wait (tests that need every
# message to go through the worker turn this off).
STEAL_WHILE_STARTING = True
# `WPEC_RECOGNISE_WORKERS=0` turns the workers off (diagnosis); default: the spare cores.
ENV_WORKERS = "WPEC_RECOGNISE_WORKERS"

_trust: Any = None
_config: Any = None


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
    global _trust, _config
    from wpec_invoicing.ingest.context import load_trust

    # Ctrl-C reaches the whole process group: the parent stops the pool, the worker must not
    # die printing a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _trust = load_trust(config)
    _config = config
    # The parse's and the later stages' modules, loaded now rather than in the first task.
    import wpec_invoicing.ingest.recognise
    import wpec_invoicing.ingest.save
    import wpec_invoicing.pec
    import wpec_invoicing.rules.passive  # noqa: F401
    from wpec_invoicing.collector import tune_for_batch

    tune_for_batch()  # a process of ours: the collector set for its big run (`collector`)


def _inspect_many(messages: list[tuple[int, str, bytes]], trust: Any = None,
                  config: Any = None) -> list[tuple[Any, Any]]:
    """`pec.inspect` of each (message id, sha256, raw bytes) and the later stages' work on
    it (`recognise.prepare`, the saved files included), with the worker's trust and config
    (or those given: a task taken back by the classifying thread); a message where either
    raises is (None, None): the classifying thread does it again and records the error the
    usual way."""
    from wpec_invoicing.ingest.recognise import prepare
    from wpec_invoicing.pec import inspect

    trust = trust if trust is not None else _trust
    config = config if config is not None else _config
    out: list[tuple[Any, Any]] = []
    for message_id, sha256, raw in messages:
        try:
            pec = inspect(raw, trust=trust)
            out.append((pec, prepare(pec, raw, trust, config=config,
                                     message_id=message_id, sha256=sha256)))
        except Exception:
            out.append((None, None))
    return out


class Ahead:
    """Parses submitted messages in worker processes; `take` hands each result over once."""

    def __init__(self, config: Any, workers: int, trust: Any = None) -> None:
        import multiprocessing

        self._pool = ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(config,))
        self._config, self._trust = config, trust
        self._futures: dict[int, tuple[Future, int]] = {}  # message id -> (task, index)
        # Tasks not known to be finished, oldest first, with their messages: the ones the
        # worker has not started can be taken back (`_take_back`).
        self._queued: collections.deque[tuple[Future, list[tuple[int, str, bytes]]]] = \
            collections.deque()
        self._done_here: dict[int, tuple[Any, Any]] = {}  # taken back and done here
        self._broken = False
        self._started = False  # the worker has finished a task (it is up)
        self.taken_back = 0  # messages whose task this thread took back from the worker

    def submit(self, messages: list[tuple[int, str, bytes]]) -> None:
        """Queue (message id, sha256, raw bytes) for parsing, a task per TASK_MESSAGES."""
        if self._broken:
            return
        for start in range(0, len(messages), TASK_MESSAGES):
            part = messages[start:start + TASK_MESSAGES]
            try:
                task = self._pool.submit(_inspect_many, part)
            except Exception as exc:  # a dead pool: parse here from now on
                self._give_up(exc)
                return
            if not self._started:
                task.add_done_callback(self._note_started)
            self._queued.append((task, part))
            for index, (message_id, _sha, _raw) in enumerate(part):
                self._futures[message_id] = (task, index)

    def take(self, message_id: int) -> tuple[Any, Any]:
        """(the parsed message, its `recognise.Prepared`), or (None, None): not submitted,
        not started yet, or the worker failed (parse here)."""
        if message_id in self._done_here:
            self._futures.pop(message_id, None)
            return self._done_here.pop(message_id)
        entry = self._futures.pop(message_id, None)
        if entry is None:
            return None, None
        task, index = entry
        while self._queued and self._queued[0][0].done():
            self._queued.popleft()  # finished: nothing to take back there
        if task.cancelled() or (STEAL_WHILE_STARTING and not self._started
                                and not task.done() and task.cancel()):
            # While the worker is still starting (≈ 0.5 s of imports), this thread parses
            # the messages itself rather than wait for it.
            return None, None
        # The worker is behind: rather than wait for it, this thread does the next tasks it
        # has not started, until this message's is done (or none is left to take).
        while not task.done() and self._take_back():
            pass
        if message_id in self._done_here:  # its own task was the one taken back
            return self._done_here.pop(message_id)
        try:
            return task.result()[index]
        except Exception as exc:
            self._give_up(exc)
            return None, None

    def _take_back(self) -> bool:
        """Do here the oldest task the worker has not started; False when there is none.

        Why: when the worker is the slower of the two (small runs, a machine whose other
        core is busy), the classifying thread would wait for it; doing the next queued
        task itself (the same function, the same trust and config) keeps both busy, while
        the worker finishes the ones it has. The oldest, not the newest: the two then go
        through the queue together and run out of parsing when the classification does.
        Taking the newest made this thread parse messages it would only classify seconds
        later; at the end the worker sat idle while this thread classified those alone
        (2 s of a 20,000-message sync). A task already started, or already handed to the
        worker's queue, cannot be cancelled: the next one can."""
        if not STEAL_WHILE_STARTING or self._broken:
            return False
        for index, (task, part) in enumerate(self._queued):
            if task.done() or not task.cancel():
                continue  # finished, or the worker's already
            del self._queued[index]
            for (message_id, _sha, _raw), result in zip(
                    part, _inspect_many(part, self._trust, self._config), strict=True):
                self._done_here[message_id] = result
            self.taken_back += len(part)
            return True
        return False

    def _note_started(self, task: Future) -> None:
        if not task.cancelled():
            self._started = True  # a plain flag, set once from the pool's thread

    def _give_up(self, exc: BaseException) -> None:
        if not self._broken:
            log.warning("recognition worker failed (%s): parsing in-process", exc)
        self._broken = True

    def close(self) -> None:
        self._futures.clear()
        self._queued.clear()
        self._done_here.clear()
        self._pool.shutdown(wait=True, cancel_futures=True)
