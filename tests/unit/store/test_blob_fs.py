"""The filesystem archive's batches: what a caller can rely on after `put_many` returns, and
inside and after a `deferred_sync` block (the invariant: a file under its digest is always
complete, so a later put of the same bytes may skip it)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from wpec_invoicing.store import blob_fs, durability
from wpec_invoicing.store.blob_base import ArchiveError, sha256_hex
from wpec_invoicing.store.blob_fs import FilesystemArchive


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob(".tmp-*"))


@pytest.mark.parametrize("way", ["syncfs", "fsyncs"])
def test_put_many_leaves_every_blob_under_its_digest_and_no_temporary_file(
        tmp_path, monkeypatch, way) -> None:
    """Both ways of making a batch durable (`store.durability`) give the same archive."""
    if way == "fsyncs":
        monkeypatch.setattr(durability, "SYNCFS", None)
    elif durability.SYNCFS is None:
        pytest.skip("no syncfs on this system")  # pragma: no cover - Linux >= 5.8 here
    else:
        monkeypatch.setattr(durability, "SYNCFS_MAX_DIRTY", 1 << 62)
    archive = FilesystemArchive(tmp_path / "a")
    blobs = [os.urandom(100 + n) for n in range(300)] + [b"", b"same", b"same"]
    digests = archive.put_many(blobs)
    assert digests == [sha256_hex(b) for b in blobs]
    for data, digest in zip(blobs, digests, strict=True):
        path = archive.path(digest)
        assert path.read_bytes() == data
        assert archive.problem(digest, len(data)) is None
    assert _leftovers(archive.root) == []


def test_inside_a_deferred_block_only_the_writing_thread_sees_the_blob(tmp_path) -> None:
    archive = FilesystemArchive(tmp_path / "a")
    data = b"invoice bytes " * 100
    digest = sha256_hex(data)
    seen_elsewhere: list[bool] = []
    with archive.deferred_sync():
        assert archive.put(data) == digest
        # This thread reads it back at once (the pipeline does), from its temporary file…
        assert archive.get(digest) == data
        assert b"".join(archive.iter_chunks(digest)) == data
        assert digest in archive and archive.sizes([digest]) == {digest: len(data)}
        # …but the name under its digest does not exist until the block makes it durable.
        assert not archive.path(digest).exists()
        other = threading.Thread(target=lambda: seen_elsewhere.append(digest in archive))
        other.start()
        other.join()
    assert seen_elsewhere == [False]
    assert archive.path(digest).read_bytes() == data
    assert _leftovers(archive.root) == []


def test_a_block_left_by_an_error_discards_its_blobs(tmp_path) -> None:
    archive = FilesystemArchive(tmp_path / "a")
    kept = archive.put(b"before")
    with pytest.raises(RuntimeError), archive.deferred_sync():
        digest = archive.put(b"written in a transaction that then failed")
        raise RuntimeError("the transaction failed")
    assert not archive.path(digest).exists() and digest not in archive
    assert archive.get(kept) == b"before"
    assert _leftovers(archive.root) == []


def test_nested_blocks_settle_once_at_the_outermost(tmp_path) -> None:
    archive = FilesystemArchive(tmp_path / "a")
    with archive.deferred_sync():
        with archive.deferred_sync():
            digest = archive.put(b"nested")
        assert not archive.path(digest).exists()  # still pending: the outer block decides
    assert archive.get(digest) == b"nested"


def test_a_failing_fsync_is_an_error_and_leaves_no_blob_behind(tmp_path, monkeypatch) -> None:
    """A mock, said so: a disk that fails fsync (EIO) cannot be provoked on a test machine."""
    archive = FilesystemArchive(tmp_path / "a")

    def broken(_root: object, _paths: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(blob_fs, "make_durable", broken)
    with pytest.raises(OSError):
        archive.put_many([b"one", b"two"])
    assert not archive.path(sha256_hex(b"one")).exists()
    assert _leftovers(archive.root) == []


def test_a_full_disk_during_a_batch_keeps_nothing_of_it(tmp_path, monkeypatch) -> None:
    """A mock, said so: filling the test machine's disk is not an option."""
    archive = FilesystemArchive(tmp_path / "a")
    real_write = os.write
    calls = {"n": 0}

    def write(fd: int, data: object) -> int:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(blob_fs.os, "write", write)
    with pytest.raises(OSError):
        archive.put_many([b"a", b"b", b"c", b"d"])
    monkeypatch.setattr(blob_fs.os, "write", real_write)
    assert [d for d in (sha256_hex(x) for x in (b"a", b"b", b"c")) if d in archive] == []
    assert _leftovers(archive.root) == []
    assert archive.put_many([b"a"]) == [sha256_hex(b"a")]  # and the archive still works


def test_repair_rewrites_a_corrupt_blob(tmp_path) -> None:
    archive = FilesystemArchive(tmp_path / "a")
    digest = archive.put(b"original")
    archive.path(digest).write_bytes(b"garbage!")
    assert archive.problem(digest) is not None
    assert archive.repair(b"original") == digest
    assert archive.problem(digest) is None


def test_get_of_a_missing_blob_is_an_archive_error(tmp_path) -> None:
    archive = FilesystemArchive(tmp_path / "a")
    with pytest.raises(ArchiveError):
        archive.get("0" * 64)


def test_a_forked_child_writes_batches_too(tmp_path, monkeypatch) -> None:
    """The fsync threads belong to the process that started them: a child forked after a
    batch (as a worker or a crash test does) must not wait for threads it does not have."""
    monkeypatch.setattr(durability, "SYNCFS", None)  # the fsync threads, not syncfs
    archive = FilesystemArchive(tmp_path / "a")
    archive.put_many([b"parent 1", b"parent 2"])  # the parent's pool exists now
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            archive.put_many([b"child 1", b"child 2", b"child 3"])
            code = 0
        finally:
            os._exit(code)
    deadline = 30.0
    import time

    start = time.monotonic()
    while time.monotonic() - start < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung writing a batch")
    assert os.waitstatus_to_exitcode(status) == 0
    assert archive.get(sha256_hex(b"child 3")) == b"child 3"


def test_syncfs_is_left_alone_when_the_machine_has_much_dirty_data(tmp_path,
                                                                    monkeypatch) -> None:
    """syncfs would flush other programs' writes too: with more than SYNCFS_MAX_DIRTY
    dirty, a batch is made durable by its own fsyncs."""
    calls: list[str] = []
    monkeypatch.setattr(durability, "SYNCFS", lambda fd: calls.append("syncfs") or 0)
    monkeypatch.setattr(durability, "fsync_all", lambda paths: calls.append("fsyncs"))
    monkeypatch.setattr(durability, "dirty_bytes", lambda: durability.SYNCFS_MAX_DIRTY + 1)
    durability.make_durable(tmp_path, [tmp_path / "a", tmp_path / "b"])
    monkeypatch.setattr(durability, "dirty_bytes", lambda: 0)
    durability.make_durable(tmp_path, [tmp_path / "a", tmp_path / "b"])
    assert calls == ["fsyncs", "syncfs"]
