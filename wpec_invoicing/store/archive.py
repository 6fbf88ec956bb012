"""Content-addressed archive of raw bytes (messages, invoice files, attachments).

Why content addressing: the same bytes arriving twice (a re-run, a copy in two folders, a
re-import) land in one blob, so idempotency is free, and a name is also an integrity check.

Two backends behind one API (`blob_base.BlobArchive`): files under a folder
(`blob_fs.FilesystemArchive`, the default; a shared mount for several machines) and
PostgreSQL (`blob_pg.PostgresArchive`: a deployment needs nothing but PostgreSQL).
`[archive] backend` in the configuration chooses; `wpec archive migrate` moves blobs between
them. `Archive` stays the filesystem one (its historical name).
"""

from __future__ import annotations

from pathlib import Path

from wpec_invoicing.store.blob_base import ArchiveError, BlobArchive, sha256_hex
from wpec_invoicing.store.blob_fs import FilesystemArchive

Archive = FilesystemArchive

BACKENDS = ("filesystem", "postgresql")

__all__ = ["BACKENDS", "Archive", "ArchiveError", "BlobArchive", "FilesystemArchive",
           "open_archive", "sha256_hex"]


def open_archive(backend: str, *, root: Path | str | None, engine=None) -> BlobArchive:
    """The archive of this backend: `root` for the filesystem, the store's `engine` (a
    PostgreSQL one) for postgresql."""
    if backend == "filesystem":
        if root is None:
            raise ArchiveError("the filesystem archive needs a folder")
        return FilesystemArchive(root)
    if backend == "postgresql":
        if engine is None or engine.dialect.name != "postgresql":
            raise ArchiveError("[archive] backend = \"postgresql\" needs the store on "
                               "PostgreSQL (store_url = \"postgresql://...\")")
        from wpec_invoicing.store.blob_pg import PostgresArchive

        return PostgresArchive(engine)
    raise ArchiveError(f"unknown archive backend {backend!r} (one of {', '.join(BACKENDS)})")
