"""Make pymap's Maildir backend keep messages byte-for-byte (applied once, by imap_server).

Why: pymap 0.36 stores an APPENDed message through Python's `mailbox` module, which parses it
with the `email` package and writes it back re-serialized with LF line endings; FETCH then
re-serializes it again and serves bare LFs, and COPY writes an empty message (it copies only
the metadata). A PEC envelope is S/MIME-signed over its exact bytes, so a server that rewrites
messages breaks every signature. These patches make the backend store the APPEND literal as
received, serve the stored bytes as they are, and copy the real content. Only the byte path
changes: flags, UIDs and folders are still pymap's own code.

A second patch makes a suspended box read-only, as a provider's is during the soft closure
(`set_read_only`, driven by `Sandbox.apply_lifecycle`): SELECT answers `OK [READ-ONLY]` (an
EXAMINE: reading never sets \\Seen), STORE / EXPUNGE / MOVE answer `NO [READ-ONLY]`, APPEND /
COPY / CREATE / DELETE / RENAME answer `NO [NOPERM]` (RFC 9051 7.1: READ-ONLY is about the
selected mailbox, NOPERM about an operation the user may not do), each with the provider's
text "casella sospesa". Reading (LIST, STATUS, FETCH, SEARCH, IDLE) keeps working. The check
is made per command, so a session opened before the suspension is refused too.
"""

from __future__ import annotations

import mailbox
from typing import Any

_APPLIED = False

# (maildir base folder, login) → the refusal text; one entry per suspended box of a server.
_READ_ONLY: dict[tuple[str, str], bytes] = {}


def set_read_only(base_dir: str, login: str, reason: str | None) -> None:
    """Make `login`'s box on the server rooted at `base_dir` read-only (`reason`: the text of
    the refusals), or writable again (None)."""
    key = (str(base_dir), login.lower())
    if reason is None:
        _READ_ONLY.pop(key, None)
    else:
        _READ_ONLY[key] = reason.encode("utf-8")


def _refusal(session: Any) -> bytes | None:
    return _READ_ONLY.get((str(session.config.base_dir), str(session.owner).lower()))


class _RawMessage(mailbox.MaildirMessage):
    """A MaildirMessage whose bytes are the stored file, not a re-serialization."""

    _wpec_raw: bytes = b""

    def __bytes__(self) -> bytes:
        return self._wpec_raw

    def as_bytes(self, *args: Any, **kwargs: Any) -> bytes:
        return self._wpec_raw


def apply() -> None:
    """Patch pymap's maildir backend in place (idempotent)."""
    global _APPLIED
    if _APPLIED:
        return
    from pymap.backend.maildir import mailbox as pm

    maildir_cls = pm.Maildir
    original_dump = mailbox.Mailbox._dump_message
    original_to_maildir = pm.Message.to_maildir.__func__  # type: ignore[attr-defined]

    def _dump_message(self: Any, message: Any, target: Any, mangle_from_: bool = False) -> None:
        raw = getattr(message, "_wpec_raw", None)
        if raw is not None:
            target.write(raw)
            return
        original_dump(self, message, target, mangle_from_)

    def get_message(self: Any, key: str) -> _RawMessage:
        subpath = self._lookup(key)
        msg = _RawMessage()
        with open(self._join(subpath), "rb") as fh:
            msg._wpec_raw = fh.read()
        subdir, name = self._split(subpath)
        msg.set_subdir(subdir)
        if self.colon in name:
            msg.set_info(name.rsplit(self.colon, 1)[-1])
        return msg

    def to_maildir(cls: Any, append_msg: Any, recent: bool, maildir_flags: Any) -> Any:
        # Build the metadata from an empty message (no parse of a possibly huge literal),
        # then attach the literal's exact bytes.
        class _Empty:
            literal = b""
            flag_set = append_msg.flag_set
            when = append_msg.when

        msg = original_to_maildir(cls, _Empty, recent, maildir_flags)
        msg._wpec_raw = bytes(append_msg.literal)
        return msg

    async def copy(self: Any, uid: int, destination: Any, *, recent: bool = False
                   ) -> int | None:
        dest_maildir = destination._maildir
        try:
            record, maildir_msg = await self._get_maildir_msg(uid)
        except KeyError:
            return None
        copy_msg = mailbox.MaildirMessage(maildir_msg)
        with open(self._maildir._join(self._maildir._lookup(record.key)), "rb") as fh:
            copy_msg._wpec_raw = fh.read()  # type: ignore[attr-defined]
        copy_msg.set_subdir("new" if recent else "cur")
        async with destination.messages_lock.write_lock():
            dest_key = dest_maildir.add(copy_msg)
            dest_filename = dest_key + ":" + copy_msg.get_info()
        async with pm.UidList.with_write(destination._path) as uidl:
            new_rec = pm.Record(uidl.next_uid, record.fields, dest_filename)
            uidl.next_uid += 1
            uidl.set(new_rec)
        return new_rec.uid

    _patch_read_only()
    maildir_cls._dump_message = _dump_message  # type: ignore[method-assign]
    maildir_cls.get_message = get_message  # type: ignore[method-assign]
    pm.Message.to_maildir = classmethod(to_maildir)  # type: ignore[method-assign,assignment]
    pm.MailboxData.copy = copy  # type: ignore[method-assign]
    _APPLIED = True


def _patch_read_only() -> None:
    """Wrap the maildir session's writing verbs with the read-only check (see the docstring)."""
    from pymap.backend.maildir import Session
    from pymap.exceptions import MailboxError
    from pymap.parsing.response import ResponseCode

    original_select = Session.select_mailbox

    async def select_mailbox(self: Any, name: str, readonly: bool = False) -> Any:
        return await original_select(self, name, readonly or _refusal(self) is not None)

    Session.select_mailbox = select_mailbox  # type: ignore[method-assign]

    def guard(verb: str, code: bytes, mailbox_arg: int | None) -> None:
        original = getattr(Session, verb)

        async def refuse_if_read_only(self: Any, *args: Any, **kwargs: Any) -> Any:
            text = _refusal(self)
            if text is not None:
                mailbox = args[mailbox_arg] if mailbox_arg is not None and \
                    len(args) > mailbox_arg else None
                raise MailboxError(mailbox if isinstance(mailbox, str) else None, text,
                                   ResponseCode.of(code))
            return await original(self, *args, **kwargs)

        setattr(Session, verb, refuse_if_read_only)

    # The selected mailbox is read-only: its changes are refused with READ-ONLY.
    for verb in ("update_flags", "expunge_mailbox", "move_messages"):
        guard(verb, b"READ-ONLY", None)
    # Operations on a mailbox the user may not change: NOPERM.
    guard("append_messages", b"NOPERM", 0)
    guard("copy_messages", b"NOPERM", 2)
    guard("create_mailbox", b"NOPERM", 0)
    guard("delete_mailbox", b"NOPERM", 0)
    guard("rename_mailbox", b"NOPERM", 0)
