"""The PostgreSQL archive backend and `archive migrate`, on a real PostgreSQL.

What a user relies on: bytes put are the bytes got (small, empty, multi-chunk, streamed); a
tampered or missing chunk is reported, never served as sound; two writers of the same bytes
leave one blob; a migration copies every blob verified, names the bad source ones, repairs a
bad destination copy, and when killed with SIGKILL half-way and run again loses and doubles
nothing.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.store.postgres import database_url
from wpec_invoicing.store.archive import Archive, ArchiveError, sha256_hex
from wpec_invoicing.store.blob_base import CHUNK_BYTES
from wpec_invoicing.store.blob_migrate import migrate
from wpec_invoicing.store.blob_pg import PostgresArchive
from wpec_invoicing.store.db import Store

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_store(tmp_path_factory):
    url = database_url("postgresql", tmp_path_factory.mktemp("pg"))
    with Store(url, archive_backend="postgresql") as store:
        yield store


def _sql(store: Store, statement: str, *args) -> list:
    with store.engine.begin() as conn:
        result = conn.exec_driver_sql(statement, args if args else ())
        return result.fetchall() if result.returns_rows else []


def _dsn(url: str) -> str:
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return f"host={u.host} port={u.port} user={u.username} dbname={u.database}"


def test_round_trip_small_empty_big_and_streamed(pg_store: Store) -> None:
    archive = pg_store.archive
    assert isinstance(archive, PostgresArchive)
    big = os.urandom(CHUNK_BYTES * 2 + 123)
    small, empty = b"From: a\r\n\r\nbody", b""
    digests = archive.put_many([small, empty, big, small])
    assert digests == [sha256_hex(x) for x in (small, empty, big, small)]
    assert archive.get(digests[0]) == small and archive.get(digests[1]) == empty
    assert archive.get(digests[2]) == big
    assert [len(p) for p in archive.iter_chunks(digests[2])] == [CHUNK_BYTES, CHUNK_BYTES, 123]
    pieces = [big[i:i + 70_000] for i in range(0, len(big), 70_000)]
    assert archive.put_stream(iter(pieces)) == (digests[2], len(big))  # already there
    fresh = os.urandom(CHUNK_BYTES + 5)
    digest, size = archive.put_stream(iter([fresh[:10], fresh[10:]]))
    assert (digest, size) == (sha256_hex(fresh), len(fresh)) and archive.get(digest) == fresh
    assert digest in archive and archive.verify(digest) and "0" * 64 not in archive
    assert archive.sizes([digest, "f" * 64]) == {digest: len(fresh)}
    rows = _sql(pg_store, "SELECT count(*) FROM archive_blobs WHERE sha256 = %s", digest)
    assert rows[0][0] == 1
    # No temporary rows are left behind by the streamed writes.
    assert _sql(pg_store, "SELECT count(*) FROM archive_blob_chunks c WHERE NOT EXISTS "
                          "(SELECT 1 FROM archive_blobs b WHERE b.sha256 = c.sha256)")[0][0] == 0
    assert list(archive.digests()) == sorted(archive.digests())
    with pytest.raises(ArchiveError):
        archive.get("e" * 64)
    with pytest.raises(ArchiveError):
        archive.get("../../etc/passwd")


def test_tampered_or_missing_chunks_are_reported(pg_store: Store) -> None:
    archive = pg_store.archive
    a, b, c = (os.urandom(CHUNK_BYTES + 10) for _ in range(3))
    da, db, dc = archive.put_many([a, b, c])
    _sql(pg_store, "UPDATE archive_blob_chunks SET data = %s WHERE sha256 = %s AND seq = 1",
         b"X" * 10, da)
    _sql(pg_store, "DELETE FROM archive_blob_chunks WHERE sha256 = %s AND seq = 0", db)
    problems = archive.check([(da, len(a)), (db, None), (dc, len(c)), ("d" * 64, 5)])
    assert problems[da].startswith("corrupt") and problems[db].startswith("corrupt")
    assert problems[dc] is None and problems["d" * 64] == "missing from the archive"
    assert not archive.verify(da)
    assert archive.repair(a) == da and archive.verify(da)


def test_concurrent_writers_of_the_same_bytes_leave_one_blob(pg_store: Store) -> None:
    data = os.urandom(CHUNK_BYTES * 2)
    errors: list[BaseException] = []

    def put(i: int) -> None:
        try:
            if i % 2:
                pg_store.archive.put(data)
            else:
                pg_store.archive.put_stream(iter([data[:100], data[100:]]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    digest = sha256_hex(data)
    assert _sql(pg_store, "SELECT count(*) FROM archive_blob_chunks WHERE sha256 = %s",
                digest)[0][0] == 2
    assert pg_store.archive.get(digest) == data


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.binary(max_size=3000), max_size=4))
def test_put_many_and_stream_round_trip_property(pg_store: Store, blobs: list[bytes]) -> None:
    archive = pg_store.archive
    for blob, digest in zip(blobs, archive.put_many(blobs), strict=True):
        assert archive.get(digest) == blob
    digest, size = archive.put_stream(iter(blobs))
    assert archive.get(digest) == b"".join(blobs) and size == sum(map(len, blobs))


def _fill_files(root: Path, blobs: list[bytes]) -> list[str]:
    """Blobs written as the filesystem archive lays them out (no fsync: test set-up)."""
    out = []
    for data in blobs:
        digest = sha256_hex(data)
        path = root / digest[:2] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out.append(digest)
    return out


def test_migrate_both_ways_verifies_names_bad_and_repairs(tmp_path: Path) -> None:
    url = database_url("postgresql", tmp_path)
    files = Archive(tmp_path / "archive")
    blobs = [os.urandom(random.randint(0, 5000)) for _ in range(300)] + \
        [os.urandom(CHUNK_BYTES * 3 + 7)]
    digests = _fill_files(files.root, blobs)
    bad = digests[5]
    files.path(bad).write_bytes(b"bit rot")
    with Store(url, archive_backend="postgresql") as store:
        pg = store.archive
        report = migrate(files, pg)
        assert report.bad == [{"sha256": bad, "problem": report.bad[0]["problem"]}]
        assert "corrupt" in report.bad[0]["problem"] or "hash" in report.bad[0]["problem"]
        assert report.copied == len(set(digests)) - 1 and report.already == 0
        assert bad not in pg
        assert all(pg.get(d) == b for d, b in zip(digests, blobs, strict=True) if d != bad)
        # A bad destination copy is repaired on the next run; the rest is verified, not copied.
        _sql(store, "UPDATE archive_blob_chunks SET data = %s WHERE sha256 = %s",
             b"\0" * len(blobs[7]), digests[7])
        files.path(bad).write_bytes(blobs[5])
        again = migrate(files, pg)
        assert (again.copied, again.repaired, again.bad) == (1, 1, [])
        assert again.already == len(set(digests)) - 2
        assert pg.check([(d, len(b)) for d, b in zip(digests, blobs, strict=True)]) == \
            dict.fromkeys(digests)
        # And back: PostgreSQL → a fresh folder, byte for byte.
        back = Archive(tmp_path / "back")
        home = migrate(pg, back)
        assert home.ok and home.copied == len(set(digests))
        assert all(back.path(d).read_bytes() == b for d, b in zip(digests, blobs, strict=True))


def test_kill_9_mid_migrate_then_resume_loses_and_doubles_nothing(tmp_path: Path) -> None:
    url = database_url("postgresql", tmp_path)
    data = tmp_path / "data"
    blobs = [os.urandom(random.randint(100, 4000)) for _ in range(2500)] + \
        [os.urandom(CHUNK_BYTES * 2 + i) for i in range(4)]
    digests = _fill_files(data / "archive", blobs)
    Store(url).close()  # migrated once, so the runs below start at once
    toml = tmp_path / "wpec.toml"
    toml.write_text(f'data_dir = "{data}"\nstore_url = "{url}"\n', encoding="utf-8")
    argv = [sys.executable, "-m", "wpec_invoicing", "archive", "migrate", "--to", "postgresql",
            "--json", "-c", str(toml)]
    counts = []
    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        for _kill in range(3):  # killed at a different point each time
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            target = len(blobs) * (_kill + 1) // 4
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and proc.poll() is None:
                n = conn.execute("SELECT count(*) FROM archive_blobs").fetchone()[0]
                if n >= target:
                    break
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            counts.append(conn.execute("SELECT count(*) FROM archive_blobs").fetchone()[0])
        assert counts[0] < len(set(digests)), "the first run finished before it was killed"
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.splitlines()[-1])
        assert report["ok"] and report["blobs"] == len(set(digests))
        assert report["copied"] + report["already"] == len(set(digests))
        assert report["already"] >= counts[-1]
        stored = dict(conn.execute("SELECT sha256, size FROM archive_blobs").fetchall())
        assert stored == {d: len(b) for d, b in zip(digests, blobs, strict=True)}
        orphans = conn.execute("SELECT count(*) FROM archive_blob_chunks c WHERE NOT EXISTS "
                               "(SELECT 1 FROM archive_blobs b WHERE b.sha256 = c.sha256)"
                               ).fetchone()[0]
        assert orphans == 0
    with Store(url, archive_backend="postgresql") as store:
        assert store.archive.check([(d, len(b)) for d, b in zip(digests, blobs, strict=True)]
                                   ) == dict.fromkeys(digests)
