"""Housekeeping tests: a Dovecot box with a real quota (its quota plugin), filled with mail
the product syncs and processes, then housekept.

Each test gets its own Dovecot user with the quota it asks for, a config pointing at it and a
store (SQLite) in its tmp folder.
"""

from __future__ import annotations

import itertools
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.integration.ingest.conftest import _login
from wpec_invoicing.config import Config, config_from_dict
from wpec_invoicing.store.db import Store

_n = itertools.count(1)


@dataclass
class Box:
    login: str
    password: str
    host: str
    port: int
    ca_path: str

    def client(self) -> IMAPClient:
        ctx = ssl.create_default_context(cafile=self.ca_path)
        c = IMAPClient(self.host, port=self.port, ssl=True, ssl_context=ctx)
        _login(c, self.login, self.password)
        return c

    def append(self, messages: list[bytes], folder: str = "INBOX",
               flags: tuple = ()) -> None:
        with self.client() as c:
            for raw in messages:
                c.append(folder, raw, flags=flags)

    def contents(self, folder: str = "INBOX") -> dict[int, tuple[bytes, tuple, object]]:
        """UID → (raw, flags, internal date)."""
        with self.client() as c:
            c.select_folder(folder, readonly=True)
            uids = c.search("ALL")
            data = c.fetch(uids, ["BODY.PEEK[]", "FLAGS", "INTERNALDATE"]) if uids else {}
            return {u: (d[b"BODY[]"], d[b"FLAGS"], d[b"INTERNALDATE"]) for u, d in data.items()}

    def quota(self) -> tuple[int, int]:
        with self.client() as c:
            q = next(x for x in c.get_quota_root("INBOX")[1] if x.resource == "STORAGE")
            return q.usage * 1024, q.limit * 1024


@pytest.fixture
def make_box(dovecot_server):
    def make(quota_bytes: int | None = None) -> Box:
        n = next(_n)
        login, password = f"hk{n}-{os.getpid()}@pec.sandbox.test", f"hk-pw-{n}"
        dovecot_server.add_user(login, password, quota_bytes)
        return Box(login, password, "127.0.0.1", dovecot_server.imaps_port,
                   str(dovecot_server.ca_path))
    return make


def box_config(tmp_path: Path, box: Box, *, housekeeping: dict | None = None,
               extra: dict | None = None) -> Config:
    env = f"WPEC_HK_PW_{next(_n)}"
    os.environ[env] = box.password
    data: dict = {
        "data_dir": "data",
        "accounts": [{"name": "main", "address": box.login, "username": box.login,
                      "password_env": env,
                      "imap": {"host": box.host, "port": box.port, "tls": "implicit",
                               "ca_file": box.ca_path}}],
        "housekeeping": housekeeping or {},
    }
    data.update(extra or {})
    return config_from_dict(data, base=tmp_path)


def write_toml(tmp_path: Path, config: Config) -> Path:
    """The same config as a wpec.toml (for `wpec` run as a process)."""
    acct = config.accounts[0]
    hk = config.housekeeping.model_dump(mode="json", exclude_defaults=True)
    lines = [f'data_dir = "{config.data_dir}"', "",
             "[[accounts]]", f'name = "{acct.name}"', f'address = "{acct.address}"',
             f'username = "{acct.login}"', f'password_env = "{acct.password_env}"',
             "[accounts.imap]", f'host = "{acct.imap.host}"', f"port = {acct.imap.port}",
             'tls = "implicit"', f'ca_file = "{acct.imap.ca_file}"', ""]
    text = "\n".join(lines)
    if hk:
        text += "\n[housekeeping]\n" + _toml_table(hk, "housekeeping")
    path = tmp_path / "wpec.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _toml_table(data: dict, prefix: str) -> str:
    import json

    flat = [f"{k} = {json.dumps(v)}" for k, v in data.items() if not isinstance(v, dict)]
    out = "\n".join(flat) + "\n"
    for k, v in data.items():
        if isinstance(v, dict):
            name = f'{prefix}.{k}' if "@" not in k else f'{prefix}."{k}"'
            out += f"\n[{name}]\n" + _toml_table(v, name)
    return out


def message(i: int, size: int = 2000, *, tag: str = "m") -> bytes:
    head = (f"From: sender{i}@example.com\r\nTo: azienda@pec.sandbox.test\r\n"
            f"Subject: {tag} message {i}\r\nMessage-ID: <{tag}{i}.{os.getpid()}@example.com>\r\n"
            f"Date: Mon, 02 Nov 2026 10:00:00 +0100\r\nContent-Type: text/plain\r\n\r\n")
    line = f"{tag}{i} " + "x" * 68 + "\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def synced_store(config: Config) -> Store:
    """Open the store and sync the account once (archive + process every message)."""
    from wpec_invoicing.mailbox.sync import Mailbox

    store = Store.from_config(config)
    Mailbox(config, config.account(), store).sync()
    return store
