"""Re-reading archive blobs at the moment it matters: size and sha256, from the archive.

Why re-hash instead of trusting "the blob exists": a blob can be truncated by a disk fault,
restored wrong from a backup or edited by hand; housekeeping deletes the server copy only when
the archive copy is proven identical *now*. Each archive backend re-reads its own way (the
filesystem in a few threads, one read per small file; PostgreSQL by streaming its chunk rows),
and hashes the bytes here, in this process.
"""

from __future__ import annotations

from collections.abc import Iterable

from wpec_invoicing.store.archive import BlobArchive


def blob_problem(archive: BlobArchive, sha256: str, size: int | None = None) -> str | None:
    """None when the blob is there with this size and digest; else what is wrong."""
    return archive.problem(sha256, size)


def check_blobs(archive: BlobArchive, items: Iterable[tuple[str, int | None]]
                ) -> dict[str, str | None]:
    """sha256 → problem (None when sound) for every (sha256, size)."""
    return archive.check(items)
