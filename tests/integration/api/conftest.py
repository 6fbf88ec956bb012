"""The REST API as a client meets it: the real app served by uvicorn on a loopback port,
talked to over HTTP with httpx, with one token per role."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.unit.store.postgres import database_url
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.tokens import ROLES, create_token
from wpec_invoicing.config import Config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveApi:
    """A running server: `url`, its context, a secret per role, clients."""

    url: str
    ctx: AppContext
    secrets: dict[str, str] = field(default_factory=dict)

    def client(self, role: str | None = "admin", **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.secrets[role]}"} if role else {}
        headers.update(kwargs.pop("headers", {}))
        return httpx.Client(base_url=self.url + "/api/v1", headers=headers, timeout=60,
                            **kwargs)


@contextmanager
def running(app) -> Iterator[str]:
    """`app` served by uvicorn on a free loopback port, in a thread: its base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def serve(ctx: AppContext, **app_options) -> Iterator[LiveApi]:
    from wpec_invoicing.web.api import create_app

    with running(create_app(ctx, **app_options)) as url:
        live = LiveApi(url, ctx)
        for role in ROLES:
            live.secrets[role] = create_token(ctx, f"test-{role}", role).secret
        yield live


def start(config: Config, **app_options) -> Iterator[LiveApi]:
    with AppContext(config) as ctx:
        yield from serve(ctx, **app_options)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[LiveApi]:
    """The API on an empty SQLite store (no accounts)."""
    yield from start(Config(data_dir=tmp_path / "data"), body_limit=1024 * 1024)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request.param, tmp_path)


def company_config(tmp_path: Path, db_url: str) -> Config:
    """A company with one account (never reached: nothing is sent) and supplier details."""
    from tests.integration.outbox.helpers import ADDRESS, COMPANY, SUPPLIER_ADDRESS
    from wpec_invoicing.config import config_from_dict

    return config_from_dict({
        "data_dir": str(tmp_path / "data"), "store_url": db_url, "company": COMPANY,
        "accounts": [{"name": "main", "address": ADDRESS, "password_env": "WPEC_TEST_UNUSED",
                      "smtp": {"host": "127.0.0.1", "port": 1, "tls": "implicit"}}],
        "outbox": {"supplier": SUPPLIER_ADDRESS}}, base=tmp_path)


@pytest.fixture
def company_api(tmp_path: Path, db_url: str) -> Iterator[LiveApi]:
    yield from start(company_config(tmp_path, db_url))
