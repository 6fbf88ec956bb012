"""What every archive backend offers: the content-addressed blob API its callers use.

Why one interface with two backends: a single machine keeps blobs as files (fast, simple,
easy to back up), a deployment with workers on several machines needs them where every worker
reaches them, and PostgreSQL is the one server such a deployment already has. Callers
(sync, ingest, rules, housekeeping, exports, the API) only ever see this API: `put`,
`put_many`, `put_stream`, `get`, `verify`, `in`, `deferred_sync`; the rest
(`iter_chunks`, `check`, `sizes`, `digests`, `repair`, `problem`) serves verification,
export and migration, which must read every blob without holding it whole.

Every backend promises the same: a blob's name is the sha256 of its bytes; `put*` is durable
when it returns (a crash after that never loses it); a reader never sees a partial blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable, Iterator

HEX64 = re.compile(r"^[0-9a-f]{64}$")
CHUNK_BYTES = 1 << 20  # the unit of streamed reads and of PostgreSQL rows


class ArchiveError(Exception):
    """The archive cannot store or find something (disk full, missing blob, bad digest)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_digest(sha256: str) -> str:
    if not isinstance(sha256, str) or not HEX64.match(sha256):
        raise ArchiveError(f"not a sha256 hex digest: {sha256!r}")
    return sha256


class BlobArchive:
    """The common API (see the module docstring). Subclasses implement the storage."""

    backend = "abstract"

    # -- writing -----------------------------------------------------------------------------
    def put(self, data: bytes) -> str:
        """Store `data` durably; returns its sha256 (a no-op when already there)."""
        return self.put_many([data])[0]

    def put_many(self, blobs: list[bytes]) -> list[str]:
        raise NotImplementedError

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store a blob that arrives in pieces without holding it whole; (sha256, size)."""
        raise NotImplementedError

    def repair(self, data: bytes) -> str:
        """Write `data` even when a blob of that name exists (it was found corrupt)."""
        raise NotImplementedError

    @contextlib.contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Batch the durability work of the puts inside the block where a backend can (the
        filesystem's folder fsyncs); blobs are durable when the block exits."""
        yield

    # -- reading -----------------------------------------------------------------------------
    def get(self, sha256: str) -> bytes:
        return b"".join(self.iter_chunks(sha256))

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        """The blob's bytes in pieces (ArchiveError when missing); for big blobs."""
        raise NotImplementedError

    def __contains__(self, sha256: str) -> bool:
        return bool(self.sizes([sha256]))

    def sizes(self, digests: Iterable[str]) -> dict[str, int]:
        """sha256 → stored size, for those of `digests` that are present (one round trip)."""
        raise NotImplementedError

    def digests(self) -> Iterator[str]:
        """Every blob name held, in ascending order."""
        raise NotImplementedError

    # -- checking ----------------------------------------------------------------------------
    def problem(self, sha256: str, size: int | None = None) -> str | None:
        """None when the blob is there with this size and its bytes hash to its name; else
        what is wrong, in words ("missing from the archive", "corrupt (...)")."""
        return self.check([(sha256, size)])[sha256]

    def check(self, items: Iterable[tuple[str, int | None]]) -> dict[str, str | None]:
        """sha256 → problem (None when sound) for every (sha256, expected size or None)."""
        raise NotImplementedError

    def verify(self, sha256: str) -> bool:
        """True when the blob exists and its content still matches its name."""
        try:
            check_digest(sha256)
        except ArchiveError:
            return False
        return self.problem(sha256) is None

    def describe(self) -> str:
        """Where the blobs are, for messages (no secrets)."""
        return self.backend


def hash_problem(sha256: str, digest: str, size: int | None, actual: int) -> str | None:
    """The words for a blob read back as (`digest`, `actual` bytes)."""
    if size is not None and actual != size:
        return f"size differs ({actual} bytes, expected {size})"
    if digest != sha256:
        return f"corrupt (its bytes hash to {digest[:12]}…)"
    return None
