"""How the sandbox provider puts mail into mailboxes: IMAP APPEND, over TLS, as the owner.

Why IMAP and not files: the provider must behave the same whichever IMAP server holds the
boxes (embedded pymap or Dovecot), and must see what the server sees (a full Dovecot box
refuses an APPEND with [OVERQUOTA]). The provider knows every password, so it logs in as the
mailbox owner; connections are kept per user and re-opened when the server drops them.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass

from imapclient import IMAPClient


class DeliveryError(Exception):
    """An APPEND was refused: `reason` is `no-dest` (no such mailbox) or `over-quota`/`altro`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class _Conn:
    client: IMAPClient
    lock: threading.Lock


class ImapMailstore:
    """APPEND into users' folders on one IMAP server (implicit TLS, CA-verified)."""

    def __init__(self, host: str, port: int, ca_path: str,
                 password_of: Callable[[str], str | None]) -> None:
        self.host = host
        self.port = port
        self._context = ssl.create_default_context(cafile=ca_path)
        self._password_of = password_of
        self._conns: dict[str, _Conn] = {}
        self._lock = threading.Lock()

    def _connect(self, user: str) -> IMAPClient:
        password = self._password_of(user)
        if password is None:
            raise DeliveryError("no-dest", f"5.1.1 - {user}: mailbox unknown")
        client = IMAPClient(self.host, port=self.port, ssl_context=self._context, timeout=30)
        # imaplib writes an APPEND literal and its closing CRLF in two sends: with Nagle on,
        # the second waits for the server's delayed ACK (~40 ms per message).
        with contextlib.suppress(OSError, AttributeError):
            client._imap.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            client.login(user, password)
        except imaplib.IMAP4.error as exc:
            client.shutdown()
            raise DeliveryError("no-dest", f"5.1.1 - {user}: mailbox unavailable ({exc})") from exc
        return client

    def _conn(self, user: str) -> _Conn:
        with self._lock:
            conn = self._conns.get(user)
            if conn is None:
                conn = _Conn(self._connect(user), threading.Lock())
                self._conns[user] = conn
            return conn

    def _drop(self, user: str) -> None:
        with self._lock:
            conn = self._conns.pop(user, None)
        if conn is not None:
            with contextlib.suppress(Exception):  # being discarded anyway
                conn.client.logout()

    def _with_client(self, user: str, action: Callable[[IMAPClient], object]) -> object:
        """Run `action` on the user's connection; reconnect once if the server dropped it."""
        for attempt in (1, 2):
            conn = self._conn(user)
            try:
                with conn.lock:
                    return action(conn.client)
            except (imaplib.IMAP4.abort, OSError, ssl.SSLError):
                self._drop(user)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def append(self, user: str, raw: bytes, folder: str = "INBOX",
               flags: tuple[bytes, ...] = ()) -> None:
        """Store `raw` in `folder` of `user` (created if missing) or raise DeliveryError."""

        def do(client: IMAPClient) -> None:
            try:
                client.append(folder, raw, flags=flags)
            except imaplib.IMAP4.error as exc:
                text = str(exc)
                if "OVERQUOTA" in text.upper() or "quota" in text.lower():
                    raise DeliveryError(
                        "over-quota", f"5.2.2 - {user}: casella piena (mailbox full)"
                    ) from exc
                if folder != "INBOX" and ("TRYCREATE" in text.upper()
                                          or "exist" in text.lower()):
                    client.create_folder(folder)
                    client.append(folder, raw, flags=flags)
                    return
                raise DeliveryError("altro", f"4.3.0 - {user}: {text}") from exc

        self._with_client(user, do)

    def usage(self, user: str) -> int:
        """Bytes stored by `user` in all folders (what a quota counts)."""

        def do(client: IMAPClient) -> int:
            total = 0
            for _flags, _delim, name in client.list_folders():
                if b"\\Noselect" in _flags or b"\\NoSelect" in _flags:
                    continue
                info = client.select_folder(name, readonly=True)
                if not info.get(b"EXISTS"):
                    continue
                uids = client.search()
                if uids:
                    sizes = client.fetch(uids, ["RFC822.SIZE"])
                    total += sum(int(v[b"RFC822.SIZE"]) for v in sizes.values())
            client.unselect_folder() if client.has_capability("UNSELECT") else None
            return total

        return int(self._with_client(user, do))  # type: ignore[arg-type]

    def purge(self, user: str) -> None:
        """Delete every message of every folder: the provider purged the box. (A bare EXPUNGE
        is right here: the whole box goes, nobody else's view of it matters.)"""

        def do(client: IMAPClient) -> None:
            for flags, _delim, name in client.list_folders():
                if b"\\Noselect" in flags or b"\\NoSelect" in flags:
                    continue
                client.select_folder(name)
                uids = client.search()
                if uids:
                    client.delete_messages(uids)
                    client.expunge()

        self._with_client(user, do)
        self._drop(user)

    def count(self, user: str, folder: str = "INBOX") -> int:
        def do(client: IMAPClient) -> int:
            return int(client.folder_status(folder, [b"MESSAGES"])[b"MESSAGES"])

        return int(self._with_client(user, do))  # type: ignore[arg-type]

    def close(self) -> None:
        with self._lock:
            users = list(self._conns)
        for user in users:
            self._drop(user)
