"""The store: migrations on SQLite and PostgreSQL, one record per message, the archive."""

import os
import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from wpec_invoicing.store.archive import Archive, ArchiveError, sha256_hex
from wpec_invoicing.store.db import Store, StoreError, current_revisions, make_engine, upgrade
from wpec_invoicing.store.models import FolderState, Message, MessageLocation


def _script_heads() -> set[str]:
    """The newest revisions the migrations folder holds (whatever their names)."""
    from alembic.script import ScriptDirectory

    from wpec_invoicing.store.db import MIGRATIONS_DIR

    return set(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def test_first_open_migrates_and_upgrade_is_idempotent(db_url: str) -> None:
    store = Store(db_url)
    try:
        assert current_revisions(store.engine) == _script_heads()
        upgrade(db_url)  # a second upgrade changes nothing and does not fail
        with store.session() as s:
            s.add(FolderState(account="main", folder="INBOX", uidvalidity=1, last_uid=5))
        with store.session() as s:
            assert s.scalar(select(FolderState.last_uid)) == 5
    finally:
        store.close()


def test_same_message_twice_is_refused_by_the_schema(db_url: str) -> None:
    store = Store(db_url)
    try:
        with store.session() as s:
            m = Message(sha256="a" * 64, size=3)
            s.add(m)
            s.flush()
            s.add(MessageLocation(message_id=m.id, account="a", folder="INBOX", uidvalidity=1,
                                  uid=1))
        with pytest.raises(IntegrityError), store.session() as s:
            s.add(Message(sha256="a" * 64, size=3))
        with pytest.raises(IntegrityError), store.session() as s:
            s.add(MessageLocation(message_id=m.id, account="a", folder="INBOX",
                                  uidvalidity=1, uid=1))
        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(Message)) == 1
    finally:
        store.close()


def test_foreign_keys_are_enforced(db_url: str) -> None:
    store = Store(db_url)
    try:
        with pytest.raises(IntegrityError), store.session() as s:
            s.add(MessageLocation(message_id=999, account="a", folder="F", uidvalidity=1, uid=1))
    finally:
        store.close()


def test_sqlite_runs_in_wal_mode(tmp_path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_unreachable_store_is_a_clear_error() -> None:
    with pytest.raises(StoreError, match="cannot"):
        Store("postgresql+psycopg://nobody@127.0.0.1:1/none")


def test_archive_put_get_is_content_addressed(tmp_path) -> None:
    archive = Archive(tmp_path / "a")
    digest = archive.put(b"raw message")
    assert digest == sha256_hex(b"raw message")
    assert archive.put(b"raw message") == digest
    assert archive.get(digest) == b"raw message"
    assert archive.path(digest).parent.parent == tmp_path / "a"
    assert archive.verify(digest)
    # no temporary files are left behind
    assert [p.name for p in archive.path(digest).parent.iterdir()] == [digest]


def test_archive_refuses_bad_names_and_reports_missing(tmp_path) -> None:
    archive = Archive(tmp_path)
    with pytest.raises(ArchiveError):
        archive.path("../../etc/passwd")
    with pytest.raises(ArchiveError, match="no blob"):
        archive.get("0" * 64)


def test_archive_concurrent_writers_of_the_same_bytes(tmp_path) -> None:
    archive = Archive(tmp_path)
    data = os.urandom(100_000)
    threads = [threading.Thread(target=archive.put, args=(data,)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert archive.get(sha256_hex(data)) == data


def test_savepoint_rolls_back_only_the_failed_part(db_url: str) -> None:
    store = Store(db_url)
    try:
        with store.session() as s:
            s.add(FolderState(account="a", folder="kept", uidvalidity=1))
            savepoint = s.begin_nested()
            s.add(FolderState(account="a", folder="dropped", uidvalidity=1))
            s.flush()
            savepoint.rollback()
            s.add(FolderState(account="a", folder="after", uidvalidity=1))
        with store.session() as s:
            folders = set(s.scalars(select(FolderState.folder)))
        assert folders == {"kept", "after"}
    finally:
        store.close()


def test_two_stores_on_one_sqlite_file_write_concurrently(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    stores = [Store(url), Store(url)]
    errors: list[Exception] = []

    def writer(store: Store, name: str) -> None:
        try:
            for i in range(30):
                with store.session() as s:
                    s.scalar(select(func.count()).select_from(FolderState))  # read, then write
                    s.add(FolderState(account=name, folder=str(i), uidvalidity=1))
        except Exception as exc:  # a lock error here is the bug this test is about
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(st, f"w{n}"))
               for n, st in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        with stores[0].session() as s:
            assert s.scalar(select(func.count()).select_from(FolderState)) == 60
    finally:
        for st in stores:
            st.close()


def _start_worker(db_url: str, barrier, errors) -> None:
    engine = make_engine(db_url)
    try:
        barrier.wait()
        upgrade(engine)
    except Exception as exc:  # a "table already exists" here is the bug
        errors.put(repr(exc))
    finally:
        engine.dispose()


def test_workers_starting_together_migrate_once(db_url: str) -> None:
    """Four worker processes' first start at the same moment on a fresh database."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    barrier, errors = ctx.Barrier(4), ctx.Queue()
    procs = [ctx.Process(target=_start_worker, args=(db_url, barrier, errors))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == [] and all(p.exitcode == 0 for p in procs)
    store = Store(db_url, migrate=False)
    try:
        assert current_revisions(store.engine)
    finally:
        store.close()


def test_opening_while_another_process_writes_waits_for_wal(tmp_path) -> None:
    """The first switch to WAL needs an exclusive lock; while another connection holds the
    write lock SQLite answers "database is locked" at once (no busy handler), which made
    workers starting together fail at random. Opening the store must wait instead."""
    import sqlite3

    path = tmp_path / "wpec.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE busy (x)")  # a rollback-journal file, not yet WAL
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO busy VALUES (1)")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        store = Store(f"sqlite:///{path}")
        try:
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert current_revisions(store.engine)
        finally:
            store.close()
    finally:
        release.join()
        other.close()


def test_sqlite_upgrade_commits_every_revision_at_once(tmp_path) -> None:
    """Alembic alone commits after each revision on SQLite: in that gap a second worker read
    "at 0001", then failed on "table already exists". One transaction leaves no gap."""
    from sqlalchemy import event

    engine = make_engine(f"sqlite:///{tmp_path / 'wpec.db'}")
    commits: list[int] = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    try:
        upgrade(engine)
        assert current_revisions(engine) == _script_heads()
        assert len(commits) == 1
    finally:
        engine.dispose()


def test_0006_moves_open_housekeeping_alerts_to_outbox_alerts(db_url: str) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import inspect, text

    engine = make_engine(db_url)
    try:
        upgrade(engine, "0005_render")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO housekeeping_alerts (account, kind, message, created_at, "
                "resolved_at) VALUES ('main', 'quota-warning', 'open one', :t, NULL), "
                "('main', 'lifecycle', 'closed one', :t, :t)"),
                {"t": datetime(2027, 1, 1, tzinfo=UTC)})
        upgrade(engine)
        assert "housekeeping_alerts" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT account, kind, message, resolved_at FROM outbox_alerts")).all()
        assert [tuple(r) for r in rows] == [("main", "quota-warning", "open one", None)]
    finally:
        engine.dispose()


def test_a_read_session_reads_while_a_writer_holds_the_lock(db_url: str) -> None:
    """The fetcher's look-ups must not wait for the classifying thread's transaction: a
    read session sees what is committed while another session holds the write lock."""
    import time

    store = Store(db_url)
    try:
        with store.session() as s:
            s.add(FolderState(account="a", folder="committed", uidvalidity=1))
        with store.session() as writer:
            writer.add(FolderState(account="a", folder="in flight", uidvalidity=1))
            writer.flush()  # the writer holds the lock (SQLite: since its BEGIN IMMEDIATE)
            started = time.monotonic()
            with store.read_session() as reader:
                seen = set(reader.scalars(select(FolderState.folder)))
            waited = time.monotonic() - started
        assert seen == {"committed"}
        assert waited < 5  # the busy timeout is 30 s: a read that waited would show it
    finally:
        store.close()
