"""The filesystem archive backend: blobs as files `root/ab/<sha256>`.

Why fsync + atomic rename: "archived" must mean "survives a power cut" before the server copy
is touched; a reader never sees a half-written file (it is written under a temporary name in
the same folder, fsynced, renamed, then the folder itself is fsynced so the rename is durable).
Why 256 folders: few folder fsyncs per batch, and still only ~4,000 files a folder at a
million messages.

Verification re-reads blobs in a few threads (hashlib releases the GIL on large buffers, and
reading overlaps hashing); a small blob is read with one system call.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
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

WORKERS = min(4, (os.cpu_count() or 1) + 1)
SMALL = 1 << 20  # a blob up to this size is read in one system call; bigger ones stream
CHECK_CHUNK = 256  # blobs per verification task: one future per file costs more than a hash


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
    def deferred_folder_sync(self) -> Iterator[None]:
        """Within the block, folder fsyncs are collected and done once at its end (each blob
        is still fsynced at once). Durable when the block exits: close it *before* the
        transaction that refers to the blobs commits."""
        outer = getattr(self._local, "dirty", None)
        if outer is not None:  # nested: the outermost block syncs
            yield
            return
        self._local.dirty = dirty = set()
        try:
            yield
        finally:
            self._local.dirty = None
            for folder in sorted(dirty, key=lambda p: len(p.parts), reverse=True):
                _fsync_dir(folder)

    def _sync_folders(self, folders: set[Path]) -> None:
        deferred = getattr(self._local, "dirty", None)
        if deferred is not None:
            deferred.update(folders)
            return
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            _fsync_dir(folder)

    def path(self, sha256: str) -> Path:
        check_digest(sha256)
        return self.root / sha256[:2] / sha256

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    # -- writing -----------------------------------------------------------------------------
    def put_many(self, blobs: list[bytes]) -> list[str]:
        """Store several blobs durably: each file is fsynced, then each folder touched once
        (one folder fsync per batch instead of one per blob)."""
        digests: list[str] = []
        dirty: set[Path] = set()
        for data in blobs:
            digest = sha256_hex(data)
            digests.append(digest)
            target = self.path(digest)
            if target.is_file() and target.stat().st_size == len(data):
                continue
            self._write(target, data, dirty)
        self._sync_folders(dirty)
        return digests

    def repair(self, data: bytes) -> str:
        digest = sha256_hex(data)
        dirty: set[Path] = set()
        self._write(self.path(digest), data, dirty)
        self._sync_folders(dirty)
        return digest

    def _write(self, target: Path, data: bytes, dirty: set[Path]) -> None:
        folder = target.parent
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            dirty.add(folder.parent)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dirty.add(folder)

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
        self._sync_folders({folder, folder.parent} if created else {folder})
        return digest, size

    # -- reading -----------------------------------------------------------------------------
    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise ArchiveError(f"archive has no blob {sha256}") from None

    def iter_chunks(self, sha256: str) -> Iterator[bytes]:
        try:
            handle = self.path(sha256).open("rb")
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
                out[sha] = os.stat(f"{root}/{sha[:2]}/{sha}").st_size
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
