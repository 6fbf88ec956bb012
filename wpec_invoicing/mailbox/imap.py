"""A thin IMAP connection for the sync: TLS verified, plain values out.

Why a wrapper over imapclient: the sync needs a handful of verbs with exact semantics
(BODY.PEEK so reading never marks \\Seen, UID ranges that never return an old message, MOVE
with a COPY+EXPUNGE fallback, IDLE) and one place that turns socket/TLS/login failures into a
clear `ImapError`. The account's TLS context verifies the server certificate against the
system CAs plus the account's `ca_file`; `insecure_skip_verify` must be written explicitly.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from wpec_invoicing.errors import WpecError

FETCH_BODY = b"BODY[]"


class ImapError(WpecError):
    """The IMAP server cannot be reached, refused TLS or the login, or broke a command.

    Exit codes (the CLI's table): 3 when it cannot be reached (retry later), 4 when it refused
    the login (fix the credentials), 2 when the settings are wrong (`ImapSettingsError`).
    """

    exit_code = 3


class ImapRefused(ImapError):
    """The server refused the login: fix the credentials or the account."""

    exit_code = 4


class ImapSettingsError(ImapError):
    """The account's settings cannot work (no [imap], untrusted certificate, wrong TLS mode)."""

    exit_code = 2


class FolderError(ImapError):
    """One folder cannot be used (it does not exist, no rights); the others still can."""


class WritesRefused(ImapError):
    """The server refuses to change the box: it is read-only (at a PEC provider, a suspended
    box: reading works, APPEND / STORE / MOVE / EXPUNGE are refused). Not a network failure
    (retrying does not help) and not one message's fault: the caller stops writing to this
    box and maps it to the account's lifecycle (`accounts.guard.after_writes_refused`)."""

    exit_code = 4

    def __init__(self, message: str, *, verb: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.verb = verb  # the refused command: APPEND, STORE, UID EXPUNGE, MOVE
        self.reason = reason  # the server's own words


# What a provider's NO to a write says when the box is read-only: the READ-ONLY response code
# (RFC 9051 7.1) or its words; NOPERM alone (an ACL refusal) is not enough.
_READ_ONLY_TEXT = re.compile(r"\[READ-ONLY\]|read-only|readonly|sola lettura|casella sospesa|"
                             r"sospes[ao]|suspended", re.IGNORECASE)


def refuses_writes(text: str) -> bool:
    """Whether a server's refusal says the box is read-only (see `WritesRefused`)."""
    return bool(_READ_ONLY_TEXT.search(text))


@dataclass(frozen=True)
class FolderInfo:
    name: str
    uidvalidity: int
    uidnext: int | None
    exists: int
    read_only: bool = False  # the server opened it read-only: nothing in it can change


class ImapConnection:
    """One logged-in IMAP session for an account (`with ImapConnection(account) as imap:`)."""

    def __init__(self, account, *, password: str | None = None) -> None:
        if account.imap is None:
            raise ImapSettingsError(f"account {account.name!r} has no [imap] settings")
        self.account = account
        self.server = account.imap
        self._password = password
        self.client: IMAPClient | None = None
        self.selected: str | None = None
        self.read_only = False  # the selected folder is read-only (SELECT said [READ-ONLY])
        # The server's refusal of a write, once seen: the box refuses every write, so the
        # next ones are not sent (one NO per box and run, not one per message).
        self.writes_refused: WritesRefused | None = None
        self.bodies_fetched = 0

    # -- connection ----------------------------------------------------------------------
    def connect(self) -> ImapConnection:
        server = self.server
        where = f"{server.host}:{server.port}"
        # The local secret first: a missing password file is a config problem, said as such,
        # before any connection is opened (and then left dangling).
        password = self._password if self._password is not None else self.account.password()
        implicit = server.tls == "implicit"
        try:
            ctx = server.ssl_context()
            client = IMAPClient(server.host, port=server.port, ssl=implicit, ssl_context=ctx,
                                timeout=server.timeout_seconds)
            if not implicit:
                client.starttls(ssl_context=ctx)
        except ssl.SSLCertVerificationError as exc:
            raise ImapSettingsError(f"IMAP {where}: TLS certificate not trusted: "
                                    f"{exc.verify_message} (set ca_file for a private CA)"
                                    ) from None
        except ssl.SSLError as exc:
            hint = ""
            if "WRONG_VERSION_NUMBER" in str(exc) and implicit:
                hint = ' (the server does not speak TLS on this port: a STARTTLS port needs '\
                       'tls = "starttls")'
            error = ImapSettingsError if hint else ImapError
            raise error(f"IMAP {where}: TLS handshake failed: {exc.reason or exc}{hint}"
                        ) from None
        except TimeoutError:
            hint = ' (an implicit-TLS port waits for a handshake: try tls = "implicit")' \
                if not implicit else ""
            raise ImapError(f"IMAP {where}: cannot connect: no answer within "
                            f"{server.timeout_seconds:g} s{hint}") from None
        except (OSError, IMAPClientError) as exc:
            raise ImapError(f"IMAP {where}: cannot connect: {exc}") from None
        try:
            client.login(self.account.login, password)
        except LoginError as exc:
            _close_quietly(client)
            raise ImapRefused(f"IMAP {where}: login refused for {self.account.login}: "
                              f"{_text(exc)}") from None
        except (OSError, IMAPClientError) as exc:
            _close_quietly(client)
            raise ImapError(f"IMAP {where}: login failed: {exc}") from None
        self.client = client
        return self

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:  # the socket may be gone already
                _close_quietly(self.client)
            self.client = None

    def __enter__(self) -> ImapConnection:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def c(self) -> IMAPClient:
        if self.client is None:
            raise ImapError("not connected")
        return self.client

    # -- folders -------------------------------------------------------------------------
    def select(self, folder: str, *, readonly: bool = False) -> FolderInfo:
        """SELECT (or EXAMINE when `readonly`: nothing on the server can change).

        A server that answers a SELECT with `OK [READ-ONLY]` (a provider's suspended box)
        gives a read-only folder (`FolderInfo.read_only`), not an error: reading works.
        imaplib raises its `readonly` (an `abort`, as if the connection were lost) for that
        answer and refuses every later command, so the folder is opened again with EXAMINE,
        which is what the server granted."""
        try:
            try:
                info = self.c.select_folder(folder, readonly=readonly)
            except imaplib.IMAP4.readonly:
                readonly = True
                info = self.c.select_folder(folder, readonly=True)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClient.AbortError):
                raise  # the connection is gone: the caller reconnects
            raise FolderError(f"folder {folder!r}: {_text(exc)}") from None
        self.selected = folder
        self.read_only = readonly or b"READ-ONLY" in info
        self.writes_refused = None  # another folder: its writes are tried again
        uidnext = info.get(b"UIDNEXT")
        return FolderInfo(folder, int(info[b"UIDVALIDITY"]),
                          int(uidnext) if uidnext is not None else None,
                          int(info.get(b"EXISTS", 0)), self.read_only)

    def ensure_folder(self, folder: str) -> None:
        if not self.c.folder_exists(folder):
            try:
                self.c.create_folder(folder)
            except IMAPClientError:
                if not self.c.folder_exists(folder):  # created meanwhile by another client
                    raise
            with contextlib.suppress(IMAPClientError):
                self.c.subscribe_folder(folder)

    # -- messages ------------------------------------------------------------------------
    def uids_after(self, last_uid: int) -> list[int]:
        """UIDs greater than `last_uid` (`N:*` also returns the highest UID: filtered)."""
        uids = self.c.search(["UID", f"{last_uid + 1}:*"])
        return sorted(u for u in uids if u > last_uid)

    def uids_between(self, first: int, last: int | None) -> list[int]:
        """UIDs from `first` to `last` included (`last` None: to the end of the folder); a
        window at a time, so a big folder's UIDs are never all in memory."""
        if last is None:
            return self.uids_after(first - 1)
        uids = self.c.search(["UID", f"{first}:{last}"])
        return sorted(u for u in uids if first <= u <= last)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        out: dict[int, int] = {}
        for chunk in _chunks(uids, 1000):
            for uid, data in self.c.fetch(chunk, ["RFC822.SIZE"]).items():
                out[uid] = int(data.get(b"RFC822.SIZE", 0))
        return out

    def fetch_bodies(self, uids: list[int]) -> Iterator[tuple[int, bytes | None]]:
        """Raw bytes of each UID with BODY.PEEK[] (reading never sets \\Seen)."""
        if not uids:
            return
        data = self.c.fetch(uids, ["BODY.PEEK[]"])
        for uid in uids:
            item = data.get(uid)
            body = item.get(FETCH_BODY) if item else None
            if body is not None:
                self.bodies_fetched += 1
            yield uid, body

    def fetch_body_chunks(self, uid: int, size: int, chunk: int) -> Iterator[bytes]:
        """A big message in ranges (BODY.PEEK[]<offset.length>): never whole in memory.
        `size` (RFC822.SIZE) is only a hint: ranges are read until one comes back short."""
        offset = 0
        while True:
            data = self.c.fetch([uid], [f"BODY.PEEK[]<{offset}.{chunk}>"]).get(uid)
            piece = None
            for key, value in (data or {}).items():
                if isinstance(key, bytes) and key.startswith(b"BODY[]"):
                    piece = value
            if piece is None and offset == 0:
                raise ImapError(f"message UID {uid} vanished while being fetched")
            if piece:
                yield bytes(piece)
                offset += len(piece)
            if not piece or len(piece) < chunk:
                break
        self.bodies_fetched += 1

    # -- writing: a refusal of a read-only box becomes WritesRefused ---------------------
    @contextlib.contextmanager
    def _writing(self, verb: str, *, in_selected: bool = True) -> Iterator[None]:
        """Turn the server's NO to a write into `WritesRefused` when the box is read-only
        (the refusal says so, or it concerns the selected folder, opened read-only); other
        refusals (quota, a flag not allowed) stay what they were. Once refused, later writes
        are refused at once, without a round trip, until another folder is selected."""
        if self.writes_refused is not None:
            seen = self.writes_refused
            raise WritesRefused(str(seen).replace(seen.verb, verb, 1), verb=verb,
                                reason=seen.reason)
        try:
            yield
        except imaplib.IMAP4.readonly as exc:  # imaplib: "mailbox status changed to READ-ONLY"
            self._refused(verb, _text(exc))
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClient.AbortError):
                raise  # the connection is gone: the caller reconnects
            text = _text(exc)
            if not (refuses_writes(text) or (in_selected and self.read_only)):
                raise
            self._refused(verb, text)

    def _refused(self, verb: str, text: str) -> None:
        # imaplib keeps the READ-ONLY code of the refusal and would then reject every later
        # command client-side as if the connection were lost: it is a read-only selection.
        if self.client is not None:
            self.client._imap.is_readonly = True
        for prefix in ("store failed: ", "append failed: ", "move failed: ",
                       "expunge failed: ", "create failed: "):
            if text.lower().startswith(prefix):  # imapclient's words, not the server's
                text = text[len(prefix):]
        self.writes_refused = WritesRefused(
            f"IMAP {self.server.host}:{self.server.port}: {self.account.login}: {verb} refused:"
            f" casella sospesa: the provider refuses writes ({text})", verb=verb, reason=text)
        raise self.writes_refused from None

    def add_flags(self, uids: Iterable[int], flags: list[str]) -> None:
        with self._writing("STORE"):
            self.c.add_flags(list(uids),
                             [f.encode() if isinstance(f, str) else f for f in flags])

    def move(self, uids: Iterable[int], target: str) -> None:
        """MOVE when the server has it; else COPY, flag \\Deleted and UID EXPUNGE those UIDs."""
        uids = list(uids)
        if not uids:
            return
        with self._writing("MOVE"):
            self.ensure_folder(target)
            if self.c.has_capability("MOVE"):
                self.c.move(uids, target)
                return
            self.c.copy(uids, target)
            self.c.delete_messages(uids)
            if self.c.has_capability("UIDPLUS"):
                self.c.uid_expunge(uids)
            else:
                self.c.expunge()

    # -- housekeeping: quota, deleting our own UIDs, restoring ---------------------------
    def count_commands(self) -> Callable[[], int]:
        """A function giving the number of IMAP commands (each one a round trip) sent on this
        connection so far, login included: imaplib numbers every command's tag, whichever path
        sent it."""
        imap = self.c._imap
        return lambda: imap.tagnum  # every command since the connection opened, login included

    def quota(self, folder: str = "INBOX") -> tuple[int, int | None] | None:
        """(used, limit) in bytes of the STORAGE resource of `folder`'s quota root (RFC 9208
        GETQUOTAROOT), or None when the server offers no QUOTA (the caller estimates)."""
        if not self.c.has_capability("QUOTA"):
            return None
        try:
            _roots, quotas = self.c.get_quota_root(folder)
        except IMAPClientError as exc:
            if isinstance(exc, IMAPClient.AbortError):
                raise
            return None
        except (IndexError, ValueError):
            # imapclient cannot parse a GETQUOTAROOT answer without a QUOTA line (Dovecot,
            # for a user with no quota rule): no server reading, so the caller estimates.
            return None
        for q in quotas:
            if str(q.resource).upper() == "STORAGE":
                # STORAGE is counted in units of 1024 octets (RFC 9208 section 5.1).
                return int(q.usage) * 1024, int(q.limit) * 1024 if q.limit else None
        return None

    def flags_and_dates(self, uids: list[int]) -> dict[int, tuple[list[str], object]]:
        """UID → (flags, INTERNALDATE) of the selected folder; UIDs gone are absent."""
        out: dict[int, tuple[list[str], object]] = {}
        if not uids:
            return out
        for uid, data in self._fetch_set(uids, [b"FLAGS", b"INTERNALDATE"]).items():
            flags = [f.decode() if isinstance(f, bytes) else str(f)
                     for f in data.get(b"FLAGS", ())]
            out[uid] = (flags, data.get(b"INTERNALDATE"))
        return out

    def _fetch_set(self, uids: list[int], items: list[bytes]) -> dict[int, dict]:
        """UID FETCH with a compact UID set (imapclient's `fetch` lists every UID, and a
        batch of thousands must stay a short command line); unsolicited responses dropped."""
        from imapclient.response_parser import parse_fetch_response

        imap = self.c._imap
        tag = imap._command("UID", "FETCH", uid_set(uids).encode(),
                            b"(" + b" ".join(items) + b")")
        typ, data = imap._command_complete("FETCH", tag)
        if typ != "OK":
            raise ImapError(f"UID FETCH refused: {_text(IMAPClientError(data))}")
        typ, data = imap._untagged_response(typ, data, "FETCH")
        response = parse_fetch_response(data, self.c.normalise_times, True)
        wanted = set(uids)
        return {uid: response[uid] for uid in response if uid in wanted}

    def delete_own(self, uids: list[int]) -> None:
        """Mark exactly these UIDs \\Deleted and expunge only them (UID EXPUNGE, RFC 4315).
        Never a bare EXPUNGE: it would also remove what another client marked. A server
        without UIDPLUS gets nothing deleted (ImapError)."""
        if not uids:
            return
        if not self.c.has_capability("UIDPLUS"):
            raise ImapError(f"IMAP {self.server.host}: the server has no UIDPLUS: housekeeping "
                            "never deletes with a bare EXPUNGE (it could remove other "
                            "clients' messages)")
        message_set = uid_set(uids)
        with self._writing("STORE \\Deleted"):
            self.c.add_flags(message_set, [b"\\Deleted"], silent=True)
        with self._writing("UID EXPUNGE"):
            self.c.uid_expunge(message_set)

    def undelete(self, uids: list[int]) -> None:
        if uids:
            with self._writing("STORE -\\Deleted"):
                self.c.remove_flags(uid_set(uids), [b"\\Deleted"], silent=True)

    def existing(self, uids: list[int]) -> set[int]:
        """Which of these UIDs the selected folder still holds."""
        if not uids:
            return set()
        return set(self.c.search(["UID", uid_set(uids)])) & set(uids)

    def append(self, folder: str, raw: bytes, flags: list[str], when) -> None:
        """APPEND `raw` with its flags and internal date (restore); creates the folder."""
        keep = [f.encode() for f in flags if f.lower() not in ("\\deleted", "\\recent")]
        with self._writing("APPEND", in_selected=False):
            self.ensure_folder(folder)
            self.c.append(folder, raw, flags=keep, msg_time=when)

    # -- IDLE ----------------------------------------------------------------------------
    def idle_wait(self, timeout: float) -> bool:
        """IDLE until the server reports something or `timeout`; True when it did."""
        if not self.c.has_capability("IDLE"):
            # No IDLE: a NOOP poll is the best we can do.
            return bool(self.c.noop()[1])
        self.c.idle()
        try:
            responses = self.c.idle_check(timeout=timeout)
        finally:
            self.c.idle_done()
        return bool(responses)


def uid_set(uids: Iterable[int]) -> str:
    """A compact IMAP sequence set: runs of consecutive UIDs as ranges (`1:500,502`), so a
    batch of thousands of UIDs stays a short command line."""
    ordered = sorted(set(uids))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}:{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _text(exc: Exception) -> str:
    value = exc.args[0] if exc.args else str(exc)
    text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    # imapclient hands over the server's bytes already repr()'d: b'[AUTHENTICATIONFAILED] ...'
    if len(text) > 3 and text[:2] in ("b'", 'b"') and text[-1] == text[1]:
        text = text[2:-1]
    return text


def _close_quietly(client: IMAPClient) -> None:
    with contextlib.suppress(OSError, IMAPClientError):
        client.shutdown()
