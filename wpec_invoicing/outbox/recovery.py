"""After a crash or an ambiguous failure: did the provider take the message or not?

WHY: between the moment the provider answers `250` to DATA and the moment we commit "sent",
the process can die (SIGKILL, power); a connection can also drop after the last byte of DATA
was sent but before the reply came. Sending again blindly would send twice; not sending would
lose the message. The provider decides for us: every accepted message gets an ACCETTAZIONE
receipt (or a NON ACCETTAZIONE notice) that references our Message-ID, and some providers keep
a copy in the Sent folder. So, after a grace period for the receipt to arrive, we look:
1. in the store (the sync may already have brought the receipt in and moved it away);
2. on the IMAP server: any folder for a receipt whose X-Riferimento-Message-ID is ours, and the
   Sent folders for our own Message-ID.
Found → it went out. Not found → look again, several times over a window (a slow provider
may write the receipt late; see `sender.AccountRunner._not_found_yet`); still nothing → it did
not: send it again (same bytes, same Message-ID). If the server cannot be asked right now, we
wait and ask again: never guess.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from wpec_invoicing.processes import pid_exists
from wpec_invoicing.store.outbox_models import OutboxItem

log = logging.getLogger(__name__)

RECEIPT_KINDS_SENT = ("accettazione", "avvenuta-consegna", "presa-in-carico", "errore-consegna",
                      "preavviso-errore-consegna")
RECEIPT_KINDS_REFUSED = ("non-accettazione",)
SENT_FOLDER_NAMES = ("Sent", "INBOX.Sent", "Sent Items", "Sent Messages", "Posta inviata",
                     "Inviata")

HOSTNAME = socket.gethostname()


# The claim tokens of the runs going on in THIS process. WHY: a `wpec worker` lives for
# weeks and runs many send jobs; a job that died half-way (the database went away mid-send)
# leaves items claimed by a process that is still alive. Its pid says nothing then: the
# token does. A token not live here is a run that ended, and its claims are orphans.
_LIVE_TOKENS: set[str] = set()


def claim_started(token: str) -> None:
    _LIVE_TOKENS.add(token)


def claim_ended(token: str) -> None:
    _LIVE_TOKENS.discard(token)


def claimant_id(token: str) -> str:
    return f"{HOSTNAME}:{os.getpid()}:{token}"


def claimant_alive(claimed_by: str | None, claimed_at: datetime | None, *, now: datetime,
                   stale_after: timedelta) -> bool:
    """Is the process that claimed an item still running? Same host: ask the kernel. Another
    host: trust the claim until it is `stale_after` old."""
    if not claimed_by:
        return False
    host, _, rest = claimed_by.partition(":")
    pid_text = rest.split(":", 1)[0]
    if host == HOSTNAME and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():  # ourselves: alive while that run goes on in this process
            token = rest.split(":", 1)[1] if ":" in rest else ""
            return token in _LIVE_TOKENS
        return pid_exists(pid) and _not_zombie(pid)
    if claimed_at is None:
        return False
    return now - claimed_at < stale_after


def _not_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            state = fh.read().rsplit(")", 1)[-1].split()[0]
        return state != "Z"
    except OSError:
        return True


@dataclass(frozen=True)
class Verdict:
    decision: str  # sent | refused | unsent | unknown | not-found-yet (the runner's)
    reason: str
    wait: float = 0.0  # not-found-yet: seconds until the next look


def check_store(session: Session, item: OutboxItem) -> Verdict | None:
    """A receipt referencing the item's Message-ID already synced into the store?"""
    try:
        from wpec_invoicing.store.models import Message
    except ImportError:  # pragma: no cover - the core store always ships
        return None
    rows = session.execute(
        select(Message.kind, Message.id).where(Message.ref_message_id == item.message_id)
    ).all()
    kinds = {k for k, _ in rows}
    if kinds & set(RECEIPT_KINDS_REFUSED):
        return Verdict("refused", "non-accettazione found in the store")
    if kinds & set(RECEIPT_KINDS_SENT):
        return Verdict("sent", f"provider receipt found in the store ({', '.join(sorted(kinds))})")
    return None


def check_server(account: Any, item: OutboxItem) -> Verdict:
    """Look on the account's IMAP server; `unknown` when the server cannot be asked."""
    if getattr(account, "imap", None) is None:
        return Verdict("unsent", "no IMAP configured; no receipt in the store")
    from wpec_invoicing.mailbox.imap import ImapConnection

    bare = item.message_id.strip().strip("<>")
    try:
        with ImapConnection(account) as conn:
            client = conn.c
            folders = [f[2] for f in client.list_folders()]
            sent_folders = {f[2] for f in client.list_folders()
                            if any(b"\\Sent" in flag for flag in (f[0] or ()))}
            sent_folders |= {f for f in folders if f in SENT_FOLDER_NAMES}
            for folder in folders:
                try:
                    client.select_folder(folder, readonly=True)
                except Exception:  # noqa: S112 - a \Noselect folder
                    continue
                hits = client.search(["HEADER", "X-Riferimento-Message-ID", bare])
                if hits:
                    kinds = _receipt_kinds(client, hits)
                    if kinds and kinds <= {"non-accettazione"}:
                        return Verdict("refused", f"non-accettazione found in {folder}")
                    if kinds - {"posta-certificata", "errore"}:
                        return Verdict("sent", f"provider receipt found in {folder}")
                if folder in sent_folders and client.search(["HEADER", "Message-ID", bare]):
                    return Verdict("sent", f"copy found in the Sent folder {folder}")
    except Exception as exc:  # any failure here means "ask again later"
        log.warning("cannot check %s on the server: %s", item.message_id, exc)
        return Verdict("unknown", f"cannot ask the IMAP server: {exc}")
    return Verdict("unsent", "no receipt and no Sent copy on the server")


def _receipt_kinds(client: Any, uids: list[int]) -> set[str]:
    kinds: set[str] = set()
    fetched = client.fetch(uids[:20], [b"BODY.PEEK[HEADER.FIELDS (X-RICEVUTA X-TRASPORTO)]"])
    for data in fetched.values():
        header = b""
        for key, value in data.items():
            if key.startswith(b"BODY"):
                header = value or b""
        for line in header.decode("ascii", "replace").splitlines():
            name, _, value = line.partition(":")
            if name.strip().lower() in ("x-ricevuta", "x-trasporto"):
                kinds.add(value.strip().lower())
    return kinds


def decide(session: Session, account: Any, item: OutboxItem) -> Verdict:
    return check_store(session, item) or check_server(account, item)
