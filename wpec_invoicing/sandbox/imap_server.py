"""The embedded IMAP server of the sandbox: pymap's Maildir backend in a thread of this process.

Why embedded: `pip install` must be enough to try the product, and the sandbox must start in
well under two seconds; a real IMAP server (pymap speaks the protocol for real: SELECT, FETCH,
UID, IDLE, APPEND, MOVE…) on its own asyncio loop in a daemon thread does both. Data lives in
Maildir folders under the sandbox directory, so mail survives a restart.

pymap's own `main()` only serves plain/STARTTLS on one port; we build its backend and config
programmatically and start two listeners on the same backend: implicit TLS (what PEC
providers offer on 993) and plain with STARTTLS.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl
import threading
from argparse import Namespace
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wpec_invoicing.sandbox.dovecot import free_port

_log = logging.getLogger(__name__)


class ImapServerError(RuntimeError):
    """The embedded IMAP server could not start."""


def _namespace(base_dir: str, host: str, port: int, cert: str, key: str, tls: bool) -> Namespace:
    # The argparse namespace pymap's Config.from_args expects (its command-line options).
    return Namespace(
        debug=False, host=host, port=port, cert=cert, key=key, tls=tls, passlib_cfg=None,
        proxy_protocol=None, inherited_sockets=None, base_dir=base_dir, concurrency=None,
        layout="++", colon=None, skip_services=[],
    )


class EmbeddedImapServer:
    """pymap (Maildir backend) on 127.0.0.1: `imaps_port` (implicit TLS), `imap_port` (STARTTLS).

    Users are login name → password; `add_user` works while running. Thread-safe controls.
    """

    def __init__(
        self,
        directory: str | os.PathLike[str],
        users: Mapping[str, str],
        *,
        cert_file: str | os.PathLike[str],
        key_file: str | os.PathLike[str],
        host: str = "127.0.0.1",
        imap_port: int | None = None,
        imaps_port: int | None = None,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.host = host
        self.imap_port = imap_port or 0
        self.imaps_port = imaps_port or 0
        self.cert_file = str(Path(cert_file).resolve())
        self.key_file = str(Path(key_file).resolve())
        self._users = dict(users)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._login: Any = None
        self._config: Any = None

    # -- life cycle --------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> EmbeddedImapServer:
        if self._thread is not None:
            return self
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.imap_port:
            self.imap_port = free_port(self.host)
        if not self.imaps_port:
            self.imaps_port = free_port(self.host)
        self._thread = threading.Thread(target=self._run, name="sandbox-imap", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise ImapServerError("the embedded IMAP server did not start in time")
        if self._error is not None:
            self._thread.join(1)
            self._thread = None
            raise ImapServerError(f"the embedded IMAP server failed: {self._error}") from \
                self._error
        return self

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(); the thread must not die silently
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        from proxyprotocol.reader import ProxyProtocolReader
        from pymap.backend.maildir import Config, Login, MaildirBackend
        from pymap.imap import IMAPServer
        from pysasl.hashing import BuiltinHash

        from wpec_invoicing.sandbox import pymap_patches

        pymap_patches.apply()
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        base = str(self.directory)
        args = _namespace(base, self.host, self.imap_port, self.cert_file, self.key_file, True)
        # Password hashing: pymap's default (PBKDF2, 500,000 rounds) costs ~0.4 s per login
        # and per user created; the sandbox keeps its passwords in 0600 files anyway.
        hashing = BuiltinHash(rounds=1000)
        config = Config.from_args(args, hash_context=hashing)
        backend = MaildirBackend(Login(config), config)
        config.apply_context()
        self._login, self._config = backend.login, config
        for name, password in self._users.items():
            await self._set_user(name, password)
        # Implicit TLS listener: same backend and login, a config without STARTTLS (the
        # connection is already encrypted when the greeting is sent).
        tls_args = _namespace(base, self.host, self.imaps_port, self.cert_file, self.key_file,
                              False)
        tls_config = Config.from_args(tls_args, hash_context=hashing)
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(self.cert_file, self.key_file)
        servers = []
        for cfg, port, ctx in ((config, self.imap_port, None),
                               (tls_config, self.imaps_port, tls_context)):
            callback = ProxyProtocolReader(cfg.proxy_protocol).get_callback(
                IMAPServer(backend.login, cfg))
            servers.append(await asyncio.start_server(callback, host=self.host, port=port,
                                                      ssl=ctx))
        await backend.start(contextlib.AsyncExitStack())
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            for server in servers:
                server.close()
            for server in servers:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 1.0)
            # pymap's connections are tasks of this loop: cancel them so the loop can end.
            current = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not current]
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait(tasks, timeout=1.0)

    async def _set_user(self, name: str, password: str) -> None:
        from pymap.backend.maildir import Identity
        from pymap.user import Passwords, UserMetadata

        hashed = await Passwords(self._config).hash_password(password)
        # An admin identity may create users; mailbox path = the login name (one Maildir each).
        identity = Identity(self._config, self._login.tokens, name, None, {"admin"})
        await identity.set(UserMetadata(self._config, name, password=hashed,
                                        params={"mailbox_path": _safe_dir(name)}))

    def add_user(self, name: str, password: str) -> None:
        """Create or update a user (also while running)."""
        self._users[name] = password
        if self._loop is not None and self._thread is not None:
            fut = asyncio.run_coroutine_threadsafe(self._set_user(name, password), self._loop)
            fut.result(10)

    def set_read_only(self, name: str, reason: str | None) -> None:
        """Make `name`'s box read-only (`reason`: the text of the refusals; see
        `pymap_patches`), or writable again (None). Takes effect on the next command, also
        in sessions already open."""
        from wpec_invoicing.sandbox import pymap_patches

        pymap_patches.set_read_only(str(self.directory), name, reason)

    @property
    def users(self) -> dict[str, str]:
        return dict(self._users)

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        thread.join(5)
        self._loop = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> EmbeddedImapServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _safe_dir(name: str) -> str:
    """A folder name for a login name (addresses contain '@' and '.', which Maildir accepts;
    anything path-like is replaced)."""
    return "".join(ch if ch.isalnum() or ch in "@.-_+" else "_" for ch in name).lstrip(".") or "_"
