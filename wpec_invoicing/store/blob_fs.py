"""The filesystem archive backend: blobs as files `root/ab/<sha256>`.

Why write, sync, then rename: "archived" must mean "survives a power cut" before the record
that refers to a blob commits (and long before the server copy is touched), and a file under
its final name must always be complete, so a later `put` of the same bytes may skip it. So
every blob is written under a temporary name in its folder, made durable, and only then
renamed to its digest, and the renames are made durable in turn.

How a batch is made durable (`store.durability`): one `syncfs` while the machine has little
dirty data, else its fsyncs side by side; either way a batch is written, made durable,
renamed, and the renames made durable, never one commit per blob.

`deferred_sync()` widens the batch to a block (the classification of a group of messages,
which extracts invoice files): blobs written inside are durable when the block exits, and
until then only the writing thread sees them (`get`, `in`, `sizes`), read from their
temporary files. Nothing may commit a reference to them before the block exits; a block left
by an exception discards them.

Why 256 folders: few folders touched per batch, and still only ~4,000 files a folder at a
million messages.

Verification re-reads blobs in a few threads (hashlib releases the GIL on large buffers, and
reading overlaps hashing); a small blob is read with one system call.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wpec_invoicing.store.blob_base import (
    CHUNK_BYTES,
    HEX64,
    ArchiveError,
    BlobArchive,
    check_digest,
    hash_problem,
    sha256_hex,
)
from wpec_invoicing.store.durability import fsync_path, make_durable, temp_name, write_new

WORKERS = min(4, (os.cpu_count() or 1) + 1)
SMALL = 1 << 20  # a blob up to this size is read in one system call; bigger ones stream
CHECK_CHUNK = 256  # blobs per verification task: one future per file costs more than a hash


class _Batch:
    """One thread's blobs written but not yet durable: digest -> (temporary file, target)."""

    __slots__ = ("folders", "pending")

    def __init__(self) -> None:
        self.pending: dict[str, tuple[str, Path]] = {}
        self.folders: set[Path] = set()  # folders whose entries change when it settles


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


class FilesystemArchive(BlobArchive):
    """Blobs under `root/ab/<sha256>`; `put` is durable when it returns."""

    backend = "filesystem"

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._local = threading.local()

    def describe(self) -> str:
        return f"filesystem {self.root}"

    @contextlib.contextmanager
    def deferred_sync(self) -> Iterator[None]:
        """Blobs put inside the block are made durable together when it exits (see the
        module docstring); close it *before* the transaction that refers to them commits."""
        if getattr(self._local, "batch", None) is not None:  # nested: the outermost settles
            yield
            return
        self._local.batch = batch = _Batch()
        try:
            yield
        except BaseException:
            self._local.batch = None
            self._discard(batch)
            raise
        self._local.batch = None
        self._settle(batch)

    def _pending(self, sha256: str) -> str | None:
        """The temporary file of a blob this thread wrote in an unsettled block."""
        batch = getattr(self._local, "batch", None)
        if batch is None or not batch.pending:
            return None
        entry = batch.pending.get(sha256)
        return entry[0] if entry else None

    def path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256

    def __contains__(self, sha256: str) -> bool:
        return self._pending(sha256) is not None or self.path(sha256).is_file()

    # -- writing -----------------------------------------------------------------------------
    def put_many(self, blobs: list[bytes]) -> list[str]:
        """Store several blobs durably (in one batch: see the module docstring)."""
        return self._store(blobs, rewrite=False)

    def repair(self, data: bytes) -> str:
        return self._store([data], rewrite=True)[0]

    def _store(self, blobs: list[bytes], *, rewrite: bool) -> list[str]:
        """Write the blobs in the thread's open batch (a `deferred_sync` block) or in one of
        their own, settled here; `rewrite`: even those already stored (found corrupt)."""
        outer = getattr(self._local, "batch", None)
        batch = outer if outer is not None else _Batch()
        digests: list[str] = []
        try:
            for data in blobs:
                digest = sha256_hex(data)
                digests.append(digest)
                if digest in batch.pending:
                    continue
                target = self.path(digest)
                if not rewrite and _stored(target, len(data)):
                    continue
                self._write(target, data, batch)
        except BaseException:
            if outer is None:
                self._discard(batch)
            raise
        if outer is None:
            self._settle(batch)
        return digests

    def _write(self, target: Path, data: bytes, batch: _Batch) -> None:
        """Write `data` under a temporary name in the target's folder; the batch's settling
        makes it durable and gives it its name."""
        folder = target.parent
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            batch.folders.add(folder.parent)
        tmp = temp_name(folder)
        write_new(tmp, data)
        batch.pending[target.name] = (tmp, target)
        batch.folders.add(folder)

    def _settle(self, batch: _Batch) -> None:
        """Make the batch durable: its files made durable, each renamed to its digest, then
        the folders whose entries changed (the new names, new folders in their parents)."""
        if not batch.pending:
            return
        try:
            make_durable(self.root, [tmp for tmp, _target in batch.pending.values()])
            for tmp, target in batch.pending.values():
                os.replace(tmp, target)
        except BaseException:
            self._discard(batch)
            raise
        batch.pending.clear()
        try:
            make_durable(self.root, sorted(batch.folders))
        except OSError as exc:
            raise ArchiveError(f"the archive at {self.root} could not be made durable: "
                               f"{exc}") from exc
        batch.folders.clear()

    @staticmethod
    def _discard(batch: _Batch) -> None:
        for tmp, _target in batch.pending.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        batch.pending.clear()

    def put_stream(self, chunks: Iterable[bytes]) -> tuple[str, int]:
        """Store a blob that arrives in pieces (a big message fetched in ranges) without
        holding it in memory: hashed while written, fsynced, then renamed to its digest.
        Returns (sha256, size)."""
        self.root.mkdir(parents=True, exist_ok=True)
        hasher = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.root)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    hasher.update(chunk)
                    handle.write(chunk)
                    size += len(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            digest = hasher.hexdigest()
            target = self.path(digest)
            if target.is_file() and target.stat().st_size == size:
                os.unlink(tmp)
                return digest, size
            folder = target.parent
            created = not folder.is_dir()
            folder.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        for touched in ([folder, folder.parent] if created else [folder]):
            fsync_path(touched)
        return digest, size

    # -- reading -----------------------------------------------------------------------------
    def get(self, sha256: str) -> bytes:
        try:
            return Path(self._pending(sha256) or self.path(sha256)).read_bytes()
        except FileNotFoundError:
            raise ArchiveError(f"archive has no blob {sha256}") from None

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        where = Path(self._pending(sha256) or self.path(sha256))
        try:
            handle = where.open("rb")
        except FileNotFoundError:
            raise ArchiveError(f"archive has no blob {sha256}") from None
        with handle:
            while piece := handle.read(CHUNK_BYTES):
                yield piece

    def sizes(self, digests: Iterable[str]) -> dict[str, int]:
        # Plain strings and os.stat: a Path per blob cost more than the stat itself.
        root = os.fspath(self.root)
        out = {}
        for sha in digests:
            if not isinstance(sha, str) or not HEX64.match(sha):
                continue
            try:
                out[sha] = os.stat(self._pending(sha) or f"{root}/{sha[:2]}/{sha}").st_size
            except OSError:
                continue
        return out

    def digests(self) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for sub in sorted(self.root.iterdir()):
            if sub.is_dir() and len(sub.name) == 2:
                for name in sorted(os.listdir(sub)):
                    if len(name) == 64 and not name.startswith(".") and name[:2] == sub.name:
                        yield name

    # -- checking ----------------------------------------------------------------------------
    def problem(self, sha256: str, size: int | None = None) -> str | None:
        try:
            path = self.path(sha256)
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
                # The common case in one read: asking one byte more than expected tells a
                # longer file apart without an fstat.
                data = os.read(fd, size + 1)
                if len(data) != size:
                    actual = os.fstat(fd).st_size
                    if actual != size:
                        return hash_problem(sha256, "", size, actual)
                    os.lseek(fd, 0, os.SEEK_SET)
                    digest = _digest(fd, actual)
                else:
                    digest = hashlib.sha256(data).hexdigest()
            else:
                actual = os.fstat(fd).st_size
                if size is not None and actual != size:
                    return hash_problem(sha256, "", size, actual)
                digest = _digest(fd, actual)
        except OSError as exc:
            return f"unreadable: {exc.strerror or exc}"
        finally:
            os.close(fd)
        return hash_problem(sha256, digest, None, 0)

    def check(self, items: Iterable[tuple[str, int | None]]) -> dict[str, str | None]:
        """Hashed in parallel in chunks (reading overlaps hashing; hashlib releases the GIL
        on the larger buffers)."""
        unique = list(dict(items).items())
        chunks = [unique[i:i + CHECK_CHUNK] for i in range(0, len(unique), CHECK_CHUNK)]

        def run(chunk: list[tuple[str, int | None]]) -> list[str | None]:
            return [self.problem(sha, size) for sha, size in chunk]

        if len(chunks) <= 1:
            results = [run(c) for c in chunks]
        else:
            with ThreadPoolExecutor(max_workers=WORKERS) as pool:
                results = list(pool.map(run, chunks))
        out: dict[str, str | None] = {}
        for chunk, problems in zip(chunks, results, strict=True):
            for (sha, _size), problem in zip(chunk, problems, strict=True):
                out[sha] = problem
        return out


def _stored(target: Path, size: int) -> bool:
    """Whether a regular file of `size` bytes is at `target` (one `stat`: a first sync asks
    for every message it fetches)."""
    try:
        st = os.stat(target)
    except OSError:  # missing, or not reachable: written again (as `Path.is_file` said)
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == size
