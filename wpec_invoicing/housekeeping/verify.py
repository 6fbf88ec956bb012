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


def blob_problem(archive: Archive, sha256: str, size: int | None = None) -> str | None:
    """None when the blob is there with this size and digest; else what is wrong."""
    try:
        path = archive.path(sha256)
    except ArchiveError as exc:
        return str(exc)
    try:
        with open(path, "rb") as fh:
            if size is not None and os.fstat(fh.fileno()).st_size != size:
                return f"size differs ({os.fstat(fh.fileno()).st_size} bytes, expected {size})"
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
    except FileNotFoundError:
        return "missing from the archive"
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if digest != sha256:
        return f"corrupt (its bytes hash to {digest[:12]}…)"
    return None


def check_blobs(archive: Archive, items: Iterable[tuple[str, int | None]]
                ) -> dict[str, str | None]:
    """sha256 → problem (None when sound) for every (sha256, size), hashed in parallel."""
    unique = dict(items)
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        results = pool.map(lambda kv: blob_problem(archive, kv[0], kv[1]), unique.items())
        return dict(zip(unique, results, strict=True))
