"""Put a deleted message back on the server: the archived bytes, APPENDed with the flags and
internal date it had when housekeeping deleted it.

Why from the audit row: the archive keeps bytes, not IMAP state; the deletion audit recorded
the flags (\\Seen, $Label...) and INTERNALDATE just before UID STORE \\Deleted, so a restored
message reads, sorts and shows exactly as it did.

A box that refuses writes (a provider's suspended box: APPEND answered NO, read-only) gets
nothing put back, with one clear reason ("casella sospesa: the provider refuses writes"), the
archive keeps the message and its deletion stays "done", so the same restore works once the
box is recovered. The caller (`app.housekeeping.restore`, which has the configuration) maps
the refusal to the account's lifecycle (`accounts.guard.after_writes_refused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from wpec_invoicing.housekeeping.verify import blob_problem
from wpec_invoicing.mailbox.imap import ImapConnection, WritesRefused
from wpec_invoicing.store.housekeeping_models import Deletion
from wpec_invoicing.store.models import Message, MessageLocation


class RestoreError(Exception):
    """This message cannot be restored (unknown, still on the server, archive copy bad)."""


@dataclass(frozen=True)
class RestoreSource:
    message_id: int
    account: str
    folder: str
    sha256: str
    size: int
    flags: list[str]
    internal_date: datetime | None


class BoxRefusesWrites(RestoreError):
    """The box refuses writes (read-only, suspended): nothing restored, nothing lost."""


def restore_source(session, message_id: int, *, account: str | None,
                   folder: str | None) -> RestoreSource:
    """Where and how message `message_id` goes back (raises RestoreError with why not)."""
    msg = session.get(Message, message_id)
    if msg is None:
        raise LookupError(f"no message with id {message_id}")
    deletion = session.scalar(select(Deletion).where(
        Deletion.message_id == message_id, Deletion.status.in_(("done", "restored")),
        *([Deletion.account == account] if account else []))
        .order_by(Deletion.id.desc()).limit(1))
    if deletion is not None and deletion.status == "restored" and folder is None:
        raise RestoreError(f"message {message_id} was already restored to "
                           f"{deletion.account}/{deletion.folder} (give --folder to put "
                           "another copy there anyway)")
    locations = list(session.scalars(select(MessageLocation).where(
        MessageLocation.message_id == message_id).order_by(MessageLocation.id.desc())))
    acct = account or (deletion.account if deletion else None) or \
        (locations[0].account if locations else None)
    if acct is None:
        raise RestoreError(f"message {message_id} never sat on a server account: give "
                           "--account")
    live = [loc for loc in locations if loc.account == acct and not loc.gone]
    if live and folder is None:
        raise RestoreError(f"message {message_id} is still on {acct} in {live[0].folder} "
                           f"(UID {live[0].uid}): nothing to restore")
    target = folder or (deletion.folder if deletion else None) or \
        (locations[0].folder if locations else "INBOX")
    return RestoreSource(message_id, acct, target, msg.sha256, msg.size,
                         list(deletion.flags or []) if deletion else [],
                         deletion.internal_date if deletion else None)


def restore_one(imap: ImapConnection, archive, src: RestoreSource) -> None:
    """APPEND the archived bytes after re-checking them (a bad copy is never put back)."""
    problem = blob_problem(archive, src.sha256, src.size)
    if problem:
        raise RestoreError(f"message {src.message_id}: archive copy {problem}")
    try:
        imap.append(src.folder, archive.get(src.sha256), src.flags, src.internal_date)
    except WritesRefused as exc:
        raise BoxRefusesWrites(
            f"casella sospesa: the provider refuses writes on {src.account} (APPEND to "
            f"{src.folder} refused: {exc.reason}); the archive keeps the message: restore it "
            "again once the box is recovered") from None

