"""Submit messages to the PEC provider over SMTP (smtplib), TLS verified, connection reused.

WHY reuse: a PEC provider counts connections and logins as well as messages; opening one per
message is slow and looks like abuse. One `SmtpClient` keeps one authenticated connection open
and reconnects cleanly (a fresh socket, a fresh login) after any failure, because after a
dropped connection or a 4xx mid-transaction the old session state cannot be trusted.

TLS: implicit (port 465 style) or STARTTLS; certificate verification is always on, with the
account's `ca_file` as an extra trust anchor, unless the operator wrote
`insecure_skip_verify = true`. Errors are not classified here: they propagate as smtplib /
OSError exceptions and `outbox.outcomes` turns them into verdicts.
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    username: str
    password: Callable[[], str]  # read at use time: secrets never sit in settings objects
    tls: str = "implicit"  # "implicit" | "starttls"
    ca_file: str | None = None
    insecure_skip_verify: bool = False
    timeout: float = 30.0

    @classmethod
    def from_account(cls, account: Any, *, timeout: float = 30.0) -> SmtpSettings:
        """Build from the config's account object (`[[accounts]]` with an `smtp` table)."""
        smtp = account.smtp
        ca = getattr(smtp, "ca_file", None)
        return cls(
            host=smtp.host,
            port=int(smtp.port),
            username=getattr(account, "login", None) or account.username or account.address,
            password=account.password,
            tls=str(getattr(smtp, "tls", "implicit")),
            ca_file=str(ca) if ca else None,
            insecure_skip_verify=bool(getattr(smtp, "insecure_skip_verify", False)),
            timeout=float(getattr(smtp, "timeout_seconds", None) or timeout),
        )


def tls_context(ca_file: str | None, insecure_skip_verify: bool = False) -> ssl.SSLContext:
    """A client TLS context: system CAs plus `ca_file`, hostname checked, TLS ≥ 1.2."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if insecure_skip_verify:  # only when written explicitly in the config
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class SmtpClient:
    """One reusable, authenticated SMTP connection to one account's provider."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._conn: smtplib.SMTP | None = None
        self.last_phase = "connect"
        self._context = tls_context(settings.ca_file, settings.insecure_skip_verify)
        self.connections_opened = 0

    # -- life cycle -------------------------------------------------------------------------
    def connect(self) -> None:
        """Open and authenticate a fresh connection (closing any previous one)."""
        self.close()
        s = self.settings
        password = s.password()  # a local problem (no password file) before any socket
        if s.tls == "implicit":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=self._context
            )
        elif s.tls == "starttls":
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            try:
                conn.ehlo()
                conn.starttls(context=self._context)
                conn.ehlo()
            except BaseException:
                _quiet_close(conn)
                raise
        else:
            raise ValueError(f"unknown TLS mode {s.tls!r} (expected implicit or starttls)")
        try:
            conn.login(s.username, password)
        except BaseException:
            _quiet_close(conn)
            raise
        self._conn = conn
        self.connections_opened += 1

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                _quiet_close(conn)

    def __enter__(self) -> SmtpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _alive(self) -> bool:
        if self._conn is None:
            return False
        try:
            return self._conn.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    # -- sending ----------------------------------------------------------------------------
    def send(self, message: EmailMessage | bytes, *, sender: str, recipient: str) -> str:
        """Submit one message to one recipient; return the server's final reply text.

        Raises smtplib / OSError exceptions on any refusal or network problem; the connection
        is then dropped so the next call starts clean. `last_phase` tells how far the
        transaction got (`connect`, `envelope`, `data`): a failure *during* `data` without a
        definite reply (a dropped connection, a timeout) is ambiguous, the provider may have
        taken the message, and only its receipts can tell.
        """
        self.last_phase = "connect"
        if self._conn is None:
            self.connect()
        assert self._conn is not None
        data = message.as_bytes() if isinstance(message, EmailMessage) else message
        conn = self._conn
        try:
            self.last_phase = "envelope"
            conn.ehlo_or_helo_if_needed()
            code, resp = conn.mail(sender)
            if code != 250:
                self._reset()
                raise smtplib.SMTPSenderRefused(code, resp, sender)
            code, resp = conn.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                raise smtplib.SMTPRecipientsRefused({recipient: (code, resp)})
            self.last_phase = "data"
            code, resp = conn.data(data)
            if code != 250:
                self._reset()
                raise smtplib.SMTPDataError(code, resp)
        except (smtplib.SMTPSenderRefused, smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError):
            raise
        except BaseException:
            self._drop()
            raise
        return f"{code} {resp.decode('utf-8', 'replace') if isinstance(resp, bytes) else resp}"

    def _reset(self) -> None:
        """RSET after a refusal so the connection can be reused; drop it if that fails."""
        try:
            assert self._conn is not None
            self._conn.rset()
        except (smtplib.SMTPException, OSError, AssertionError):
            self._drop()

    def check_alive(self) -> bool:
        """NOOP the open connection (True if usable); a dead one is dropped."""
        if self._alive():
            return True
        self._drop()
        return False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _quiet_close(conn)


def _quiet_close(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        conn.close()
