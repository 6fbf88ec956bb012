"""Content-addressed archive of raw bytes (messages, invoice files, attachments).

Why content addressing: the same bytes arriving twice (a re-run, a copy in two folders, a
re-import) land in one file, so idempotency is free, and a name is also an integrity check.
Why fsync + atomic rename: "archived" must mean "survives a power cut" before the server copy
is touched; a reader never sees a half-written file (it is written under a temporary name in
the same folder, fsynced, renamed, then the folder itself is fsynced so the rename is durable).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class ArchiveError(Exception):
    """The archive cannot store or find something (disk full, missing blob, bad digest)."""


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Archive:
    """Blobs under `root/ab/<sha256>` (256 folders: few folder fsyncs per batch, and still
    only ~4,000 files a folder at a million messages); `put` is durable when it returns."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self._local = threading.local()

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
        if not _HEX64.match(sha256):
            raise ArchiveError(f"not a sha256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256

    def __contains__(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def put(self, data: bytes) -> str:
        """Store `data` durably; returns its sha256 (a no-op when already there)."""
        return self.put_many([data])[0]

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
        self._sync_folders(dirty)
        return digests

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

    def get(self, sha256: str) -> bytes:
        try:
            return self.path(sha256).read_bytes()
        except FileNotFoundError:
            raise ArchiveError(f"archive has no blob {sha256}") from None

    def verify(self, sha256: str) -> bool:
        """True when the blob exists and its content still matches its name."""
        try:
            return sha256_hex(self.get(sha256)) == sha256
        except ArchiveError:
            return False
