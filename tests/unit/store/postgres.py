"""A throwaway PostgreSQL cluster for the store and ingestion tests (one per test session).

initdb refuses to run as root, so the cluster is created and run by the `postgres` user in a
temporary folder it owns; the server listens on a free loopback port and keeps its unix socket
in that folder. Each test gets its own fresh database. When the binaries are absent the tests
are skipped with the reason (`make test` installs them).
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

_CLUSTER: PostgresCluster | None = None
_FAILED: str | None = None


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresCluster:
    def __init__(self) -> None:
        bindir = _bin_dir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found")
        self.bindir = bindir
        self.tmp = Path(tempfile.mkdtemp(prefix="wpec-pg-"))
        self.data = self.tmp / "data"
        self.port = _free_port()
        as_pg = self._as_postgres()
        if as_pg:
            shutil.chown(self.tmp, "postgres", "postgres")
        os.chmod(self.tmp, 0o700)
        self._run([str(bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                   "-A", "trust", "-E", "UTF8", "--no-sync"])
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.tmp} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                "-c max_connections=200")
        self._run([str(bindir / "pg_ctl"), "-D", str(self.data), "-o", opts,
                   "-l", str(self.tmp / "log"), "-w", "-t", "60", "start"])

    @staticmethod
    def _as_postgres() -> bool:
        return os.geteuid() == 0

    def _run(self, argv: list[str]) -> None:
        if self._as_postgres():
            argv = ["runuser", "-u", "postgres", "--", *argv]
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            log = self.tmp / "log"
            extra = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{argv[-1]} failed: {result.stderr or result.stdout}\n{extra}")

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """A fresh empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # best effort at exit
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                       "-w", "stop"])
        shutil.rmtree(self.tmp, ignore_errors=True)


def get_cluster() -> PostgresCluster:
    """The session's cluster, started on first use; raises RuntimeError when unavailable."""
    global _CLUSTER, _FAILED
    if _CLUSTER is not None:
        return _CLUSTER
    if _FAILED is not None:
        raise RuntimeError(_FAILED)
    try:
        _CLUSTER = PostgresCluster()
    except Exception as exc:
        _FAILED = f"cannot start a PostgreSQL cluster: {exc}"
        raise RuntimeError(_FAILED) from exc
    atexit.register(_CLUSTER.stop)
    return _CLUSTER


def database_url(kind: str, tmp_path: Path) -> str:
    """A fresh database of `kind` ("sqlite" or "postgresql"); skips when PostgreSQL is absent."""
    import pytest

    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'wpec.db'}"
    if _bin_dir() is None:
        pytest.skip("PostgreSQL binaries not installed (make test installs them)")
    try:
        return get_cluster().new_database()
    except RuntimeError as exc:
        if _bin_dir() is None:
            pytest.skip(str(exc))
        raise
