"""The sandbox provider's SMTP side: aiosmtpd handlers (policy per protocol step) and one
controller owning the listeners (submission with STARTTLS, submission with implicit TLS,
plain inbound SMTP for ordinary mail from outside), all on one asyncio loop in one thread.

Replies are a real provider's: AUTH required (PLAIN, LOGIN) and only over TLS; MAIL FROM must be
the authenticated account; throttling refusals (451 / 550 / 421 block) at MAIL FROM; an
optional one-shot connection drop in the middle of DATA.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
import threading
import warnings
from collections.abc import Callable
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from wpec_invoicing.sandbox.accounts import AccountRegistry
from wpec_invoicing.sandbox.provider import PecProvider, SubmissionRefused

_log = logging.getLogger(__name__)


class _QuietDeprecation(logging.Filter):
    # aiosmtpd logs a deprecation warning on every AUTH (its own legacy attribute), and warns
    # about "AUTH without TLS" on the implicit-TLS listener, where it cannot see the TLS.
    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return "login_data is deprecated" not in text and "auth_require_tls" not in text


logging.getLogger("mail.log").addFilter(_QuietDeprecation())

# Over the provider's own size rule, so that rule answers (with a PEC notice), not SMTP.
DATA_SIZE_LIMIT = 200 * 1024 * 1024
HOSTNAME = "smtp.pec.sandbox.test"


class ProviderSMTP(SMTP):
    """aiosmtpd's SMTP with the line limit of a real MTA: RFC 5321 says 1000, but providers
    (Postfix) take longer lines, and real clients send them (an 8bit XML invoice on one
    line); aiosmtpd would refuse the whole message with 500."""

    line_length_limit = 64 * 1024


def _close_soon(server: SMTP) -> None:
    # After the reply line is written, hang up (as a provider does after a 421).
    loop = asyncio.get_running_loop()
    transport = server.transport
    if transport is not None:
        loop.call_later(0.05, transport.close)


class SubmissionHandler:
    """Authenticated submission: hands each message to `PecProvider.submit`."""

    def __init__(self, provider: PecProvider) -> None:
        self.provider = provider

    async def handle_MAIL(self, server: SMTP, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        client = session.peer[0] if session.peer else "?"
        blocked = self.provider.throttle.blocked(client)
        if blocked:
            _close_soon(server)
            return blocked
        login = str(session.auth_data or "")
        try:
            self.provider.check_sender(login, address)
        except SubmissionRefused as exc:
            return exc.reply
        lifecycle = self.provider.lifecycle
        refused = lifecycle.submission_refusal(login) if lifecycle else None
        if refused:  # a suspended (read-only) or closed box cannot send
            return refused
        refusal = self.provider.throttle.check(login, client)
        if refusal:
            self.provider._event("throttled", None, detail=refusal, sender=login)
            if refusal.startswith("421"):
                _close_soon(server)
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Ok"

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        if self.provider.drop_next_data:
            # The switch "drop the connection mid-DATA once": the message was sent but no
            # reply ever comes; nothing is accepted.
            self.provider.drop_next_data = False
            self.provider._event("dropped", None, sender=str(session.auth_data or ""))
            if server.transport is not None:
                server.transport.abort()
            return "421 4.4.2 connection dropped"
        login = str(session.auth_data or "")
        loop = asyncio.get_running_loop()
        try:
            sub = await loop.run_in_executor(
                None, self.provider.submit, login, envelope.mail_from, list(envelope.rcpt_tos),
                bytes(envelope.content))
        except SubmissionRefused as exc:
            return exc.reply
        except Exception:
            _log.exception("submission failed")
            return "451 4.3.0 Errore temporaneo del sistema, riprovare"
        return f"250 2.0.0 Ok: queued as {sub.identificativo}"


class InboundHandler:
    """Ordinary (non-PEC) mail from outside: accepted for known boxes, wrapped as anomaly."""

    def __init__(self, provider: PecProvider) -> None:
        self.provider = provider

    async def handle_RCPT(self, server: SMTP, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.provider.accounts.get(address) is None:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        lifecycle = self.provider.lifecycle
        refused = lifecycle.inbound_refusal(address) if lifecycle else None
        if refused:
            return refused
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server: SMTP, session: Any, envelope: Any) -> str:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.provider.receive_plain, envelope.mail_from or "",
                                   list(envelope.rcpt_tos), bytes(envelope.content))
        return "250 2.0.0 Ok"


def make_authenticator(accounts: AccountRegistry,
                       can_log_in: Callable[[str], bool] | None = None) -> Any:
    def authenticator(server: SMTP, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace").strip().lower()
        password = auth_data.password.decode("utf-8", "replace")
        account = accounts.get(login)
        if account is None or not hmac.compare_digest(account.password.encode(),
                                                      password.encode()):
            return AuthResult(success=False, handled=False)
        if can_log_in is not None and not can_log_in(login):  # deactivated or purged
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)

    return authenticator


class SmtpController:
    """Starts/stops the three listeners on 127.0.0.1 (ports 0 = chosen by the OS)."""

    def __init__(self, provider: PecProvider, tls_context: ssl.SSLContext, *,
                 host: str = "127.0.0.1", starttls_port: int = 0, implicit_port: int = 0,
                 inbound_port: int = 0) -> None:
        self.provider = provider
        self.tls_context = tls_context
        self.host = host
        self.starttls_port = starttls_port
        self.implicit_port = implicit_port
        self.inbound_port = inbound_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _factory(self, handler: Any, *, submission: bool, implicit: bool) -> Any:
        provider = self.provider
        authenticator = make_authenticator(
            provider.accounts,
            lambda login: provider.lifecycle is None or provider.lifecycle.can_log_in(login))

        def make() -> SMTP:
            kwargs: dict[str, Any] = {
                "hostname": HOSTNAME,
                "ident": "Sandbox PEC ESMTP",
                "data_size_limit": DATA_SIZE_LIMIT,
                "enable_SMTPUTF8": True,
                "decode_data": False,
                "loop": self._loop,
                "timeout": 120,
            }
            if not implicit:
                kwargs["tls_context"] = self.tls_context
            if submission:
                # On the implicit-TLS listener every byte is already encrypted (aiosmtpd
                # cannot tell, so "require TLS for AUTH" is only asked of the STARTTLS one).
                kwargs.update(authenticator=authenticator, auth_required=True,
                              auth_require_tls=not implicit, require_starttls=not implicit)
            with warnings.catch_warnings():
                # "AUTH without requiring TLS": intended on the implicit-TLS listener only.
                warnings.simplefilter("ignore", UserWarning)
                return ProviderSMTP(handler, **kwargs)

        return make

    async def _start_servers(self) -> None:
        loop = asyncio.get_running_loop()
        submission = SubmissionHandler(self.provider)
        inbound = InboundHandler(self.provider)
        specs = [
            ("starttls_port", self._factory(submission, submission=True, implicit=False), None),
            ("implicit_port", self._factory(submission, submission=True, implicit=True),
             self.tls_context),
            ("inbound_port", self._factory(inbound, submission=False, implicit=False), None),
        ]
        for attr, factory, ctx in specs:
            server = await loop.create_server(factory, host=self.host,
                                              port=getattr(self, attr), ssl=ctx)
            setattr(self, attr, server.sockets[0].getsockname()[1])
            self._servers.append(server)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._start_servers())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            for server in self._servers:
                server.close()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

    def start(self, timeout: float = 10.0) -> SmtpController:
        self._thread = threading.Thread(target=self._run, name="sandbox-smtp", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            raise RuntimeError(f"the sandbox SMTP server did not start: {self._error}")
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is None or self._loop is None:
            return
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._loop.stop)
        thread.join(5)
