"""The store's engine, sessions and migrations.

Why: SQLite (one file in the data folder, zero set-up) is the default; a PostgreSQL URL lets
several workers share one store. SQLite runs in WAL mode (readers never block the writer),
with foreign keys on and a busy timeout so a second process waits instead of failing.
The schema is owned by Alembic (`store/migrations/`): `upgrade(url)` runs it programmatically,
and `Store(...)` does so on first start, so nobody has to remember `wpec db upgrade`.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from wpec_invoicing.errors import WpecError
from wpec_invoicing.store import json_doc

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
MIGRATION_LOCK_ID = 0x77_70_65_63  # "wpec": the advisory lock taken while migrating


class Base(DeclarativeBase):
    """The declarative base of every table (core and outbox)."""


class StoreError(WpecError):
    """The store cannot be opened or migrated (URL, permissions, server down)."""


def utcnow() -> datetime:
    """Now, aware and in UTC: every timestamp the store writes."""
    return datetime.now(UTC)


def normalize_url(url: str) -> str:
    """`postgresql://` and `postgres://` mean psycopg 3 (the driver we ship)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT (which rules and observers use
    # to roll back one failure alone): take it over, and begin transactions ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _enable_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED (and their extended codes)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _enable_wal(cursor, timeout_s: float = SQLITE_BUSY_TIMEOUT_MS / 1000) -> None:
    """Switch the file to WAL, retrying while another connection holds the database.

    Why: the switch needs an exclusive lock, and when two connections race for it (several
    workers opening a fresh store at once) SQLite reports "database is locked" at once,
    without calling the busy handler (it would deadlock). So we retry here, with backoff,
    for as long as the busy timeout promises every other statement may wait.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def _sqlite_begin(conn) -> None:
    # IMMEDIATE: take the write lock up front, so concurrent processes (sync, outbox, import)
    # queue on the busy timeout instead of failing on a lock upgrade (SQLITE_BUSY_SNAPSHOT).
    # A `Store.read_session` only reads: a plain BEGIN, which in WAL mode never waits.
    if conn.get_execution_options().get(READ_ONLY_OPTION):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


READ_ONLY_OPTION = "wpec_read_only"


def make_engine(url: str, **kwargs) -> Engine:
    """An engine for `url` (SQLite file or PostgreSQL), with the pragmas above for SQLite."""
    url = normalize_url(url)
    kwargs.setdefault("json_serializer", json_doc.dumps)  # see store.json_doc
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _alembic_config(engine: Engine):  # -> alembic.config.Config
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["engine"] = engine
    return cfg


_upgrade_lock = threading.Lock()


def upgrade(url_or_engine: str | Engine, revision: str = "heads") -> None:
    """Bring the schema to `revision` (all heads by default) with Alembic."""
    from alembic import command

    engine = make_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    try:
        with _upgrade_lock, engine.connect() as conn:
            # Several workers may start at once: one migrates, the others wait and then find
            # nothing to do. PostgreSQL: an advisory lock held for the whole upgrade.
            # SQLite: one BEGIN IMMEDIATE transaction around every revision (env.py commits
            # it). Alembic alone commits after each revision on SQLite, which let a second
            # worker read "at 0001" in that gap and then fail on "table already exists".
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")
                conn.commit()
            elif conn.dialect.name == "sqlite":
                conn.begin()
            cfg = _alembic_config(engine)
            cfg.attributes["connection"] = conn
            try:
                command.upgrade(cfg, revision)
            finally:
                if conn.dialect.name == "postgresql":
                    conn.rollback()
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})")
                    conn.commit()
    except Exception as exc:
        if isinstance(exc, WpecError):
            raise
        raise StoreError(f"cannot migrate the store at {_safe(engine)}: {_reason(exc)}") from exc
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def current_revisions(engine: Engine) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def _reason(exc: BaseException) -> str:
    """One line: the driver's own message (not SQLAlchemy's multi-line wrapper)."""
    orig = getattr(exc, "orig", None) or exc
    lines = [ln.strip() for ln in str(orig).splitlines() if ln.strip()]
    return " ".join(lines)[:500] or type(orig).__name__


def _hide(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparsable URL)"


def _safe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


class Store:
    """An engine + session factory (+ the archive next to it), migrated on open.

    `with store.session() as s:` commits on success and rolls back on error.
    """

    def __init__(self, url: str, *, archive_dir: Path | str | None = None,
                 migrate: bool = True, archive_backend: str = "filesystem") -> None:
        from wpec_invoicing.store.archive import open_archive

        self.url = normalize_url(url)
        try:
            self.engine = make_engine(self.url)
            if migrate:
                upgrade(self.engine)
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"cannot open the store {_hide(url)}: {_reason(exc)}") from exc
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = sessionmaker(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}),
            expire_on_commit=False)
        # The blob archive: files under `archive_dir` (default) or this database's
        # archive tables ([archive] backend = "postgresql"); see store/archive.py.
        self.archive = None
        if archive_backend != "filesystem" or archive_dir is not None:
            try:
                self.archive = open_archive(archive_backend, root=archive_dir,
                                            engine=self.engine)
            except Exception as exc:
                self.engine.dispose()
                raise StoreError(str(exc)) from exc

    @classmethod
    def from_config(cls, config, *, migrate: bool = True) -> Store:
        """Open the store a `wpec_invoicing.config.Config` points at."""
        return cls(config.resolved_store_url, archive_dir=config.archive_dir, migrate=migrate,
                   archive_backend=config.archive.backend)

    @contextmanager
    def session(self) -> Iterator[Session]:
        session = self.sessionmaker()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session that only reads (rolled back at the end). On SQLite it does not take
        the write lock: a thread that only looks something up never waits for a writer.

        Why: every session takes SQLite's write lock when it begins (see `_sqlite_begin`),
        and a big sync's classifying thread holds it almost without a break; the fetcher
        thread's look-up of the UIDs already known waited 2-3 s for it at every window of
        UIDs, and the whole pipeline with it. A session that writes here fails (on SQLite,
        when another writer committed meanwhile): use `session()` to write."""
        session = self.read_sessionmaker()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
