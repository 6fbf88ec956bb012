"""Making files durable: the archive's one system-level concern, in one place.

`make_durable(root, paths)` returns once `paths` (files written, folders whose entries
changed) would survive a power cut. Two ways, chosen per call:

- **`syncfs(2)`** of `root`'s file system: one journal commit for the whole batch, however
  many files. On this project's VMs a first sync with it spends half the system time it
  spends with per-file fsyncs and is 25-35 % faster end to end, because every fsync is a
  journal commit and each commit stalls the other file creations on the file system (the
  rule files the classifying thread writes, SQLite's own). But it flushes *everything*
  dirty on that file system, other programs' writes included: next to a database loading
  data it made each batch wait for those writes. So it is used only while the machine has
  little dirty data (`/proc/meminfo` Dirty under SYNCFS_MAX_DIRTY): then it costs about one
  commit, whoever owns the pages. Linux only, and only from 5.8 on (before, `syncfs`
  did not report write-back errors).
- otherwise **fsyncs side by side**: each path fsynced from a small pool of threads, so the
  file system groups them into shared commits (0.16-0.18 ms a small file here against
  0.35-0.84 one after the other).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import itertools
import os
import sys
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FSYNC_THREADS = 16  # enough concurrent fsyncs to share journal commits; they wait, not work
SYNCFS_MAX_DIRTY = 64 * 1024 * 1024

_TMP_COUNTER = itertools.count()

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _load_syncfs():  # -> the libc function, or None
    if not sys.platform.startswith("linux"):
        return None
    try:
        major, minor = (int(x) for x in os.uname().release.split(".")[:2])
    except ValueError:
        return None
    if (major, minor) < (5, 8):
        return None
    try:
        fn = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int]
    fn.restype = ctypes.c_int
    return fn


SYNCFS = _load_syncfs()


def temp_name(folder: Path | str) -> str:
    """A temporary file name in `folder`, unique to this process and call: mkstemp's random
    names cost more than writing a small file (thousands a second in a first sync)."""
    return f"{folder}/.tmp-{os.getpid()}-{next(_TMP_COUNTER)}"


def write_new(path: str, data: bytes) -> None:
    """Create `path` (it must not exist: O_EXCL guards against anything else) holding
    `data`; nothing is left behind when it fails. Not synced: see `make_durable`."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0),
                 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise
    os.close(fd)


def dirty_bytes() -> int | None:
    """The machine's dirty page cache (not yet written back), or None when unknown."""
    try:
        with open("/proc/meminfo", "rb") as fh:
            for line in fh:
                if line.startswith(b"Dirty:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def make_durable(root: Path | str, paths: Sequence[str | Path]) -> None:
    """Return once `paths` (on `root`'s file system) are durable; raises OSError if the
    system reports they could not be written."""
    if not paths:
        return
    if SYNCFS is not None and len(paths) > 1:
        dirty = dirty_bytes()
        if dirty is not None and dirty <= SYNCFS_MAX_DIRTY:
            _syncfs(root)
            return
    fsync_all(paths)


def _syncfs(root: Path | str) -> None:
    fd = os.open(root, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        if SYNCFS(fd) != 0:  # type: ignore[misc]
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(root))
    finally:
        os.close(fd)


def fsync_path(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_all(paths: Sequence[str | Path]) -> None:
    """fsync every path, several at once so that they share the journal's commits."""
    global _pool
    if len(paths) <= 1:
        for path in paths:
            fsync_path(path)
        return
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(FSYNC_THREADS, thread_name_prefix="wpec-fsync")
    for _ in _pool.map(fsync_path, paths):  # re-raises the first error
        pass


def _forget_pool_in_child() -> None:
    """A forked child has the pool object but none of its threads: it makes its own."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)
