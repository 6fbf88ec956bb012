"""`--watch`'s ears: one IMAP IDLE connection per configured folder, each waking the sync.

Why one connection per folder: IMAP IDLE (RFC 2177) reports changes of the *selected* mailbox
only, and a connection selects one mailbox at a time. NOTIFY (RFC 5465) would watch several
mailboxes on one connection, but few servers offer it (Dovecot does; most PEC providers do
not) and imaplib/imapclient have no support for its untagged STATUS stream, so the portable
way is a small listener per folder. Each listener has its own connection, EXAMINEs its folder
(read-only: listening never changes a flag), IDLEs, and sets a shared `wake` event when a
message arrives (EXISTS/RECENT), so mail in any folder is synced at once, not at the next poll.

A listener reconnects by itself with backoff (a dropped connection, a server restart); a folder
that does not exist (yet) is retried rarely. Listeners never touch the store: the sync loop in
`sync.Mailbox.watch` does the work, on its own connection, when woken.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import random
import threading
import time

from imapclient.exceptions import IMAPClientError

from wpec_invoicing.mailbox.imap import FolderError, ImapConnection, ImapError

log = logging.getLogger(__name__)

# IDLE is renewed this often (RFC 2177: at least every 29 minutes; NATs drop silent TCP far
# sooner, and a renewal is one round trip).
RENEW_SECONDS = 300.0
# How often a blocked listener looks at the stop event.
CHECK_SECONDS = 1.0
NEWS = {b"EXISTS", b"RECENT"}


def has_news(responses: list) -> bool:
    """True when IDLE responses say a message arrived (not mere flag changes or expunges,
    which our own server actions cause and which need no sync)."""
    return any(isinstance(r, tuple) and len(r) >= 2 and r[1] in NEWS for r in responses)


class FolderListener:
    """IDLE on one folder of one account, in a thread of its own, until `stop` is set."""

    def __init__(self, account, folder: str, *, wake: threading.Event, stop: threading.Event,
                 password: str | None = None, max_backoff: float = 300.0,
                 renew_seconds: float = RENEW_SECONDS) -> None:
        self.account = account
        self.folder = folder
        self.wake = wake
        self.stop = stop
        self.password = password
        self.max_backoff = max_backoff
        self.renew_seconds = renew_seconds
        self.thread = threading.Thread(target=self.run, daemon=True,
                                       name=f"idle-{account.name}-{folder}")

    def start(self) -> FolderListener:
        self.thread.start()
        return self

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                with ImapConnection(self.account, password=self.password) as imap:
                    imap.select(self.folder, readonly=True)
                    # Whatever arrived while we were not listening is news too.
                    self.wake.set()
                    backoff = 1.0
                    while not self.stop.is_set():
                        if self._idle_once(imap):
                            self.wake.set()
            except FolderError as exc:  # missing (yet), no rights: try again now and then
                self._pause(f"{exc}", self.max_backoff)
            except (ImapError, OSError, IMAPClientError, imaplib.IMAP4.error) as exc:
                backoff = self._retry(exc, backoff)

    def _idle_once(self, imap: ImapConnection) -> bool:
        """One IDLE command, ended at news, at the renewal time or at stop."""
        client = imap.c
        client.idle()
        news = False
        try:
            deadline = time.monotonic() + self.renew_seconds
            while not self.stop.is_set() and time.monotonic() < deadline:
                wait = min(CHECK_SECONDS, max(0.0, deadline - time.monotonic()))
                started = time.monotonic()
                responses = client.idle_check(timeout=wait)
                if has_news(responses):
                    news = True
                    break
                if not responses and time.monotonic() - started < wait / 2:
                    # The socket was readable but gave nothing: the server closed it.
                    raise ImapError(f"IDLE on {self.folder!r}: connection closed by the "
                                    "server")
        except BaseException:
            with contextlib.suppress(OSError, IMAPClientError, imaplib.IMAP4.error):
                client.idle_done()
            raise
        client.idle_done()
        return news

    def _retry(self, exc: BaseException, backoff: float) -> float:
        delay = min(self.max_backoff, backoff) * (0.5 + random.random())  # noqa: S311
        log.info("IDLE on %s/%s: %s; reconnecting in %.1fs", self.account.name, self.folder,
                 exc, delay)
        self.stop.wait(delay)
        return min(self.max_backoff, backoff * 2)

    def _pause(self, why: str, seconds: float) -> None:
        log.warning("IDLE on %s/%s not possible: %s; trying again in %.0fs",
                    self.account.name, self.folder, why, seconds)
        self.stop.wait(seconds)

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)


def listen(account, folders: list[str], *, wake: threading.Event, stop: threading.Event,
           password: str | None = None, max_backoff: float = 300.0) -> list[FolderListener]:
    """Start one listener per folder; they run until `stop` is set."""
    return [FolderListener(account, folder, wake=wake, stop=stop, password=password,
                           max_backoff=max_backoff).start() for folder in folders]
