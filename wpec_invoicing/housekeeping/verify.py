"""Re-reading archive blobs at the moment it matters: size and sha256, from the disk.

Why re-hash instead of trusting "the file exists": a blob can be truncated by a disk fault,
restored wrong from a backup or edited by hand; housekeeping deletes the server copy only when
the archive copy is proven identical *now*. Hashing runs in a few threads (hashlib releases
the GIL on large buffers, and reading overlaps hashing), with `hashlib.file_digest`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from wpec_invoicing.store.archive import Archive, ArchiveError

WORKERS = min(4, (os.cpu_count() or 1) + 1)
SMALL = 1 << 20  # a blob up to this size is read in one system call; bigger ones stream
CHUNK = 256  # blobs per task: one future per file costs more than hashing a receipt


def _digest(fd: int, size: int) -> str:
    if size > SMALL:
        with os.fdopen(os.dup(fd), "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()
    parts = []
    while True:  # a regular file returns all at once; loop for the rare short read
        piece = os.read(fd, size + 1)
        if not piece:
            break
        parts.append(piece)
    return hashlib.sha256(b"".join(parts)).hexdigest()


def blob_problem(archive: Archive, sha256: str, size: int | None = None) -> str | None:
    """None when the blob is there with this size and digest; else what is wrong."""
    try:
        path = archive.path(sha256)
    except ArchiveError as exc:
        return str(exc)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        return "missing from the archive"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    try:
        if size is not None and size <= SMALL:
            # The common case in one read: asking one byte more than expected tells a longer
            # file apart without an fstat.
            data = os.read(fd, size + 1)
            if len(data) != size:
                actual = os.fstat(fd).st_size
                if actual != size:
                    return f"size differs ({actual} bytes, expected {size})"
                os.lseek(fd, 0, os.SEEK_SET)
                digest = _digest(fd, actual)
            else:
                digest = hashlib.sha256(data).hexdigest()
        else:
            actual = os.fstat(fd).st_size
            if size is not None and actual != size:
                return f"size differs ({actual} bytes, expected {size})"
            digest = _digest(fd, actual)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    finally:
        os.close(fd)
    if digest != sha256:
        return f"corrupt (its bytes hash to {digest[:12]}…)"
    return None


def check_blobs(archive: Archive, items: Iterable[tuple[str, int | None]]
                ) -> dict[str, str | None]:
    """sha256 → problem (None when sound) for every (sha256, size), hashed in parallel in
    chunks (reading overlaps hashing; hashlib releases the GIL on the larger buffers)."""
    unique = list(dict(items).items())
    chunks = [unique[i:i + CHUNK] for i in range(0, len(unique), CHUNK)]

    def run(chunk: list[tuple[str, int | None]]) -> list[str | None]:
        return [blob_problem(archive, sha, size) for sha, size in chunk]

    out: dict[str, str | None] = {}
    if len(chunks) <= 1:
        results = [run(c) for c in chunks]
    else:
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            results = list(pool.map(run, chunks))
    for chunk, problems in zip(chunks, results, strict=True):
        for (sha, _size), problem in zip(chunk, problems, strict=True):
            out[sha] = problem
    return out
