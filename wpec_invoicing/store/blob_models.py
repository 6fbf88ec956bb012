"""Tables of the PostgreSQL archive backend (migration `0007_blobs`).

WHY two tables: `archive_blobs` is the index (one row per blob: its size and how many chunks),
`archive_blob_chunks` holds the bytes in pieces of at most 1 MiB (`blob_base.CHUNK_BYTES`), so
a 100 MB PEC message is streamed in and out row by row instead of passing through one
100 MB bytea value (which PostgreSQL and the driver would each hold whole, twice encoded). A
blob exists when its index row does; both are written in one transaction, so a crash leaves
either the whole blob or nothing. The tables exist on SQLite too (one schema everywhere), but
only the PostgreSQL backend uses them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, DateTime, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from wpec_invoicing.store.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


class ArchiveBlob(Base):
    __tablename__ = "archive_blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[int] = mapped_column(Integer)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ArchiveBlobChunk(Base):
    __tablename__ = "archive_blob_chunks"

    # While a streamed blob is being written its rows carry a temporary key (its digest is
    # known only at the end); the same transaction renames them, so no one ever sees it.
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
