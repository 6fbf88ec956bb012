"""Ingestion tests: a store on SQLite and on PostgreSQL, a config pointing at a real IMAP
server (Dovecot from the shared fixtures), and a factory of realistic PEC traffic."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.integration.ingest.factory import COMPANY_VAT, Factory
from tests.unit.store.postgres import database_url
from wpec_invoicing.config import Config, config_from_dict
from wpec_invoicing.store.db import Store

_n = itertools.count(1)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return database_url(request.param, tmp_path)


@pytest.fixture(scope="session")
def factory() -> Factory:
    return Factory()


POOL_SIZE = 40


@pytest.fixture(scope="session")
def mailbox_pool(dovecot_server) -> list[tuple[str, str]]:
    """Fresh Dovecot users, created together once (Dovecot notices a changed passwd-file with
    a delay, so adding one per test costs seconds each)."""
    import ssl

    users = [(f"ingest{i}@pec.sandbox.test", f"ingest-pw-{i}") for i in range(POOL_SIZE)]
    for login, password in users:
        dovecot_server.add_user(login, password)
    ctx = ssl.create_default_context(cafile=str(dovecot_server.ca_path))
    with IMAPClient("127.0.0.1", port=dovecot_server.imaps_port, ssl=True,
                    ssl_context=ctx) as client:
        _login(client, *users[-1])
    return users


@pytest.fixture
def mailbox(mailbox_pool) -> tuple[str, str]:
    """An empty mailbox on the shared Dovecot: (login, password)."""
    if not mailbox_pool:
        pytest.fail("mailbox pool exhausted: raise POOL_SIZE")
    return mailbox_pool.pop(0)


def make_config(tmp_path: Path, *, db_url: str | None = None, imap: dict | None = None,
                login: str = "azienda@pec.sandbox.test", ca_pem: bytes | None = None,
                extra: dict | None = None) -> Config:
    """A config in `tmp_path` (data in tmp_path/data); the password comes from an env var."""
    data: dict = {
        "data_dir": "data",
        "company": {"name": "Cliente Demo S.p.A.", "vat": COMPANY_VAT},
    }
    if db_url:
        data["store_url"] = db_url
    if ca_pem is not None:
        (tmp_path / "trust.pem").write_bytes(ca_pem)
        data["trust_store"] = "trust.pem"
    if imap is not None:
        env = f"WPEC_TEST_PW_{next(_n)}"
        os.environ[env] = imap.pop("password")
        data["accounts"] = [{"name": "main", "address": login, "username": login,
                             "password_env": env, "imap": imap}]
    for key, value in (extra or {}).items():
        data[key] = value
    return config_from_dict(data, base=tmp_path)


def open_store(config: Config) -> Store:
    return Store.from_config(config)


def _login(client: IMAPClient, login: str, password: str) -> None:
    """Log in; a user added to Dovecot's passwd-file within the same second as the previous
    change may need a moment to be seen (Dovecot compares the file's mtime in seconds)."""
    import time

    from imapclient.exceptions import LoginError

    for attempt in range(100):
        try:
            client.login(login, password)
            return
        except LoginError:
            if attempt == 99:
                raise
            time.sleep(0.1)


def append(host: str, port: int, ca_path: str, login: str, password: str,
           messages: list[bytes], folder: str = "INBOX") -> None:
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca_path))
    with IMAPClient(host, port=port, ssl=True, ssl_context=ctx) as client:
        _login(client, login, password)
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for raw in messages:
            client.append(folder, raw)


def folder_contents(host: str, port: int, ca_path: str, login: str, password: str
                    ) -> dict[str, list[tuple[bytes, tuple]]]:
    """Every folder's messages: (raw bytes, flags)."""
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca_path))
    out: dict[str, list[tuple[bytes, tuple]]] = {}
    with IMAPClient(host, port=port, ssl=True, ssl_context=ctx) as client:
        client.login(login, password)
        for flags, _delim, name in client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            client.select_folder(name, readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
            out[name] = [(d[b"BODY[]"], d[b"FLAGS"]) for d in data.values()]
    return out


def folder_uids(host: str, port: int, ca_path: str, login: str, password: str
                ) -> dict[str, tuple[int, dict[int, bytes]]]:
    """Every folder's UIDVALIDITY and its messages by UID: {folder: (uidvalidity, {uid: raw})}."""
    import ssl

    ctx = ssl.create_default_context(cafile=str(ca_path))
    out: dict[str, tuple[int, dict[int, bytes]]] = {}
    with IMAPClient(host, port=port, ssl=True, ssl_context=ctx) as client:
        client.login(login, password)
        for flags, _delim, name in client.list_folders():
            if b"\\Noselect" in flags or b"\\NonExistent" in flags:
                continue
            info = client.select_folder(name, readonly=True)
            uids = client.search("ALL")
            data = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
            out[name] = (int(info[b"UIDVALIDITY"]), {uid: d[b"BODY[]"] for uid, d in data.items()})
    return out
