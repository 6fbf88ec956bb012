"""The application context: the configuration and the store, opened once and passed first to
every use-case function, so a CLI run, an API request and a worker job share one door."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the store stack is imported only by the commands that open it
    from sqlalchemy import Connection
    from sqlalchemy.orm import Session

    from wpec_invoicing.config import Config
    from wpec_invoicing.store.db import Store

# Async read connections open at once per event loop (PostgreSQL allows 100 by default).
ASYNC_POOL_SIZE = 10

# The tz database's names of UTC itself (offset zero, never a change of rule).
UTC_ZONES = frozenset({
    "UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu",
    "GMT", "Etc/GMT", "GMT0", "Etc/GMT0", "GMT+0", "Etc/GMT+0", "GMT-0", "Etc/GMT-0",
    "Greenwich", "Etc/Greenwich"})


async def _new_read_connection(psycopg: Any, dsn: str) -> Any:
    """A new connection for `AppContext.async_read_connection`; on a server whose time zone
    is UTC under another of its names (`Etc/UTC`, a common default), its session is set to
    `UTC` itself.

    Why: psycopg gives times in the session's zone; for `UTC` it uses Python's own
    `timezone.utc`, for any other name a `ZoneInfo`, which costs a rule look-up per value
    (a 50-row page: ≈ 85 → 68 µs to fetch, measured). The same instants, the same offset
    (zero), so the same JSON; any other zone is left as the server has it."""
    conn = await psycopg.AsyncConnection.connect(dsn, autocommit=True)
    try:
        zone = conn.info.parameter_status("TimeZone")
        if zone in UTC_ZONES and zone != "UTC":
            await conn.execute("SET TimeZone TO 'UTC'")
    except BaseException:
        await conn.close()
        raise
    return conn


class AppContext:
    """Configuration + store. The store (and SQLAlchemy) is opened lazily, on first use, so a
    command that never touches it never pays for it."""

    def __init__(self, config: Config, *, store: Store | None = None) -> None:
        self.config = config
        self._store = store
        self._reader = None
        # (event loop, idle connections, semaphore of open ones)
        self._async_pool: tuple[Any, list[Any], Any] | None = None
        # The cursors kept per pooled connection (`read_cursor`), by id(connection).
        self._async_cursors: dict[int, dict[Any, Any]] = {}

    @classmethod
    def load(cls, config_path: Path | str | None = None) -> AppContext:
        """The context of `wpec.toml` as looked up by `load_config` (--config, $WPEC_CONFIG,
        ./wpec.toml)."""
        from wpec_invoicing.config import load_config

        return cls(load_config(config_path))

    @cached_property
    def store(self) -> Store:
        if self._store is None:
            from wpec_invoicing.store.db import Store

            self._store = Store.from_config(self.config)
        return self._store

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on an error."""
        with self.store.session() as session:
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading only (a listing page, events after a cursor, a detail).

        Why: on PostgreSQL a normal session costs a pool ping, BEGIN and COMMIT around the
        query: three extra round trips that dominate a 50-row page. A read needs no
        transaction, so this session runs on an autocommit engine without the ping (a dead
        connection fails one request and is replaced); each statement sees the latest
        commits. Never write through it. On SQLite it is the normal session.
        """
        engine = self._read_engine()
        if engine is None:
            with self.session() as session:
                yield session
            return
        from sqlalchemy.orm import Session as OrmSession

        with OrmSession(engine) as session:
            yield session

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """Like `read`, but a Core connection: for a listing that selects columns (no ORM
        entities), the ORM session's execution path costs more than the page's query on
        PostgreSQL (≈ 0.2 ms of a 0.6 ms read). Never write through it."""
        engine = self._read_engine() or self.store.engine
        with engine.connect() as conn:
            yield conn

    @cached_property
    def reads_async(self) -> bool:
        """Whether `async_read_connection` is available (PostgreSQL)."""
        return self.store.engine.dialect.name == "postgresql"

    @asynccontextmanager
    async def async_read_connection(self) -> AsyncIterator[Any]:
        """A psycopg `AsyncConnection` in autocommit, for reads only, from a small pool of
        the running event loop (a connection belongs to the loop that opened it): at most
        `ASYNC_POOL_SIZE` open at once, a burst of requests waits its turn rather than
        exhausting the server's connections. After an error the connection is closed, not
        reused: its state is unknown. PostgreSQL only (`reads_async`)."""
        import asyncio

        import psycopg

        loop = asyncio.get_running_loop()
        if self._async_pool is None or self._async_pool[0] is not loop:
            self._drop_async_pool()
            self._async_pool = (loop, [], asyncio.Semaphore(ASYNC_POOL_SIZE))
        _, idle, turns = self._async_pool
        async with turns:
            conn = idle.pop() if idle else await _new_read_connection(psycopg,
                                                                      self._psycopg_dsn)
            try:
                yield conn
            except BaseException:
                self._async_cursors.pop(id(conn), None)
                await conn.close()
                raise
            if conn.closed:
                self._async_cursors.pop(id(conn), None)
                await conn.close()
            else:
                idle.append(conn)

    def read_cursor(self, conn: Any, kind: Hashable, make: Callable[[Any], Any]) -> Any:
        """A cursor of this pooled connection (`async_read_connection`), made by `make` the
        first time this `kind` of cursor is asked for, then kept while the connection stays
        in the pool.

        Why: a cursor that runs the same query object again keeps what it set up to read
        the last result (psycopg's transformer: a loader per column), where a new cursor
        per request sets it all up afresh; a list polled page after page runs the same
        statement each time. Measured against a new cursor per request (two servers, order
        balanced): page 500 of received invoices 1-4 % faster end to end. One cursor per
        kind (not per statement): a connection holds at most that many results (the last
        page's rows), and alternating statements cost what a new cursor did. A connection
        serves one request at a time, so do its cursors; after an error the connection is
        closed and its cursors forgotten."""
        cursors = self._async_cursors.setdefault(id(conn), {})
        cursor = cursors.get(kind)
        # By id: a connection of a pool dropped mid-request (another event loop took the
        # context) may have left its cursors under an id a new connection now has.
        if cursor is None or cursor.closed or cursor.connection is not conn:
            cursor = cursors[kind] = make(conn)
        return cursor

    def _drop_async_pool(self) -> None:
        """Close the idle async connections (of a loop that is gone, or at the end): libpq's
        own close, which needs no event loop."""
        self._async_cursors.clear()
        if self._async_pool is not None:
            for conn in self._async_pool[1]:
                conn.pgconn.finish()
            self._async_pool = None

    @cached_property
    def _psycopg_dsn(self) -> str:
        return self.store.engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False)

    def _read_engine(self):  # -> sqlalchemy.Engine | None
        if self._reader is None:
            store = self.store
            if store.engine.dialect.name != "postgresql":
                self._reader = False
            else:
                from wpec_invoicing.store.db import make_engine

                self._reader = make_engine(store.url, pool_pre_ping=False,
                                           isolation_level="AUTOCOMMIT")
        return self._reader or None

    def close(self) -> None:
        self._drop_async_pool()
        if self._reader:
            self._reader.dispose()
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> AppContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
