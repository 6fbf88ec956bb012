"""A suspended box is read-only, at the sandbox provider as at a real one, and the product
recognises it.

- the sandbox's IMAP server (pymap), spoken to in raw IMAP: SELECT answers OK [READ-ONLY],
  STORE / EXPUNGE / MOVE answer NO [READ-ONLY], APPEND / CREATE answer NO [NOPERM], each with
  "casella sospesa"; reading works; recovered, the box is writable again;
- the product, through the `wpec` command as a user runs it: `messages restore` on the
  suspended box is refused with "casella sospesa: the provider refuses writes" (exit 1), the
  account becomes suspended with an alert, nothing is lost (the deletion stays "done", the
  archive keeps the message); the sync still archives new mail, its server actions wait;
  `housekeep` says so once and deletes nothing; recovered, the same restore works and the
  waiting actions are done.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from imapclient import IMAPClient
from sqlalchemy import select

from wpec_invoicing.app import lifecycle as app
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.config import load_config
from wpec_invoicing.store.housekeeping_models import Deletion
from wpec_invoicing.store.models import Message, MessageLocation, RuleAction
from wpec_invoicing.store.outbox_models import OutboxAlert

BOX = "azienda@pec.sandbox.test"
REFUSED = "casella sospesa: the provider refuses writes"


class RawImap:
    """A bare IMAP client over TLS: the server's exact answers, no client library between."""

    def __init__(self, sb) -> None:
        raw = socket.create_connection((sb.host, sb.imap_port), timeout=60)
        self.sock = sb.ssl_context().wrap_socket(raw, server_hostname=sb.host)
        self.file = self.sock.makefile("rb")
        self.n = 0
        assert self.file.readline().startswith(b"* OK")

    def cmd(self, text: str, literal: bytes | None = None) -> tuple[list[bytes], bytes]:
        """(untagged lines, tagged line) of one command."""
        self.n += 1
        tag = f"t{self.n}".encode()
        if literal is None:
            self.sock.sendall(tag + b" " + text.encode() + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + text.encode() + b" {%d}\r\n" % len(literal))
            first = self.file.readline()
            if not first.startswith(b"+"):  # refused before the literal was sent
                return [], first.rstrip()
            self.sock.sendall(literal + b"\r\n")
        untagged = []
        while True:
            line = self.file.readline()
            assert line, "the server closed the connection"
            if line.startswith(tag + b" "):
                return untagged, line.rstrip()
            untagged.append(line.rstrip())

    def close(self) -> None:
        self.sock.close()


def _message(n: int) -> bytes:
    return (f"From: fornitore{n}@example.com\r\nTo: {BOX}\r\nSubject: posta {n}\r\n"
            f"Message-ID: <ro{n}@example.com>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\n"
            f"\r\nciao {n}\r\n").encode()


def _append(sb, *messages: bytes) -> None:
    with IMAPClient(sb.host, port=sb.imap_port, ssl_context=sb.ssl_context(),
                    timeout=60) as c:
        c.login(BOX, sb.accounts[BOX])
        for raw in messages:
            c.append("INBOX", raw)


def _server(sb) -> dict[bytes, tuple]:
    """Raw bytes → flags of every message in the box's INBOX (read with EXAMINE)."""
    with IMAPClient(sb.host, port=sb.imap_port, ssl_context=sb.ssl_context(),
                    timeout=60) as c:
        c.login(BOX, sb.accounts[BOX])
        c.select_folder("INBOX", readonly=True)
        uids = c.search()
        data = c.fetch(uids, ["BODY.PEEK[]", "FLAGS"]) if uids else {}
        return {d[b"BODY[]"]: d[b"FLAGS"] for d in data.values()}


def _wpec(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args],
                          capture_output=True, text=True, timeout=300)


def test_the_sandbox_imap_server_makes_a_suspended_box_read_only(sandbox):
    sb = sandbox
    _append(sb, _message(1))
    sb.lifecycle.suspend(BOX)
    sb.apply_lifecycle()
    imap = RawImap(sb)
    try:
        assert imap.cmd(f'LOGIN "{BOX}" "{sb.accounts[BOX]}"')[1].split()[1] == b"OK"
        _untagged, done = imap.cmd("SELECT INBOX")
        assert done.split()[1:3] == [b"OK", b"[READ-ONLY]"]
        fetched, done = imap.cmd("UID FETCH 1 (BODY.PEEK[])")  # reading works
        assert b" OK " in done and b"ciao 1" in b"".join(fetched)
        for command in ("UID STORE 1 +FLAGS (\\Seen)", "UID EXPUNGE 1", "UID MOVE 1 Archivio"):
            done = imap.cmd(command)[1]
            assert done.split()[1:3] == [b"NO", b"[READ-ONLY]"], (command, done)
            assert b"casella sospesa" in done
        for command, literal in (("APPEND INBOX", _message(2)), ("CREATE Archivio", None)):
            done = imap.cmd(command, literal)[1]
            assert done.split()[1:3] == [b"NO", b"[NOPERM]"], (command, done)
            assert b"casella sospesa" in done
        assert list(_server(sb).items()) == [(_message(1), ())]  # nothing changed

        sb.lifecycle.recover(BOX)  # the same session: writable again once re-selected
        sb.apply_lifecycle()
        assert imap.cmd("SELECT INBOX")[1].split()[1:3] == [b"OK", b"[READ-WRITE]"]
        assert b" OK " in imap.cmd("UID STORE 1 +FLAGS (\\Seen)")[1]
        assert b" OK " in imap.cmd("APPEND INBOX", _message(2))[1]
    finally:
        imap.close()
    assert set(_server(sb)) == {_message(1), _message(2)}


def _config(sb, tmp_path: Path) -> Path:
    path = sb.write_config(tmp_path / "wpec.toml", data_dir="data")
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('\n[rules.kinds.non-pec]\nflag = ["\\\\Flagged"]\n\n'
                 "[housekeeping.retention]\ndays = { non-pec = 0 }\n")
    return path


def _ids(ctx, raw: bytes) -> int:
    from wpec_invoicing.store.archive import sha256_hex

    with ctx.session() as s:
        return s.scalar(select(Message.id).where(Message.sha256 == sha256_hex(raw)))


def test_a_suspended_box_refuses_restore_and_deletions_and_nothing_is_lost(sandbox, tmp_path):
    sb = sandbox
    path = _config(sb, tmp_path)
    wpec = ("--config", str(path))
    old = _message(10)
    _append(sb, old)
    # Active: synced (flagged by the rule) and housekept (deleted: archived, 0 days).
    assert _wpec("sync", *wpec).returncode == 0
    housekept = _wpec("housekeep", *wpec)
    assert housekept.returncode == 0, housekept.stderr
    assert _server(sb) == {}
    ctx = AppContext(load_config(path))
    mid = _ids(ctx, old)

    # -- suspended at the provider -------------------------------------------------------
    assert _wpec("sandbox", "account", "suspend", BOX, "--dir",
                 str(sb.directory)).returncode == 0
    sb.apply_lifecycle()  # what `wpec sandbox up`'s control loop does
    refused = _wpec("messages", "restore", str(mid), *wpec)
    assert refused.returncode == 1
    assert f"message {mid}: not restored: {REFUSED} on main" in refused.stdout
    assert "Traceback" not in refused.stderr
    assert _server(sb) == {}
    with ctx.session() as s:  # nothing lost: the deletion is still "done", the bytes kept
        assert [d.status for d in s.scalars(select(Deletion))] == ["done"]
    assert ctx.store.archive.get(_sha(old)) == old
    status = app.list_accounts(ctx)[0]
    assert status.state == "suspended"
    detail = app.show_account(ctx, "main")
    assert detail.history[-1].event == "soft-closed" and REFUSED in detail.history[-1].detail
    assert any(a.kind == "account-paused" for a in detail.alerts)
    assert any(a.kind == "lifecycle" and "suspended" in a.message for a in detail.alerts)

    # The sync still reads: new mail is archived; its flag waits (no write is tried).
    new = _message(11)
    sb.lifecycle.recover(BOX)
    sb.apply_lifecycle()
    _append(sb, new)  # (arrives while the box is writable, then the box is suspended)
    sb.lifecycle.suspend(BOX)
    sb.apply_lifecycle()
    synced = _wpec("sync", *wpec, "--json")
    assert synced.returncode == 0, synced.stderr
    assert _server(sb) == {new: ()}  # not flagged
    with ctx.session() as s:
        waiting = list(s.scalars(select(RuleAction).where(RuleAction.action == "flag",
                                                          RuleAction.status == "pending")))
        assert len(waiting) == 1 and REFUSED in waiting[0].detail
    # Housekeeping: one clear line, nothing deleted, nothing audited.
    skipped = _wpec("housekeep", *wpec)
    assert skipped.returncode == 1
    assert f"main: {REFUSED} on main" in skipped.stderr
    assert "deletions skipped, 1 message(s) stay on the server" in skipped.stderr
    assert "Traceback" not in skipped.stderr
    assert _server(sb) == {new: ()}
    new_id = _ids(ctx, new)
    with ctx.session() as s:
        assert [d.status for d in s.scalars(select(Deletion))] == ["done"]
        assert not s.scalar(select(MessageLocation).where(
            MessageLocation.message_id == new_id)).gone
        alerts = s.scalars(select(OutboxAlert).where(OutboxAlert.resolved_at.is_(None)))
        assert len([a for a in alerts if a.kind == "lifecycle"]) == 1  # not one per try

    # -- recovered: the same restore works; the waiting flag is set ------------------------
    assert _wpec("sandbox", "account", "recover", BOX, "--dir",
                 str(sb.directory)).returncode == 0
    sb.apply_lifecycle()
    assert app.recover(ctx, "main").state == "active"
    restored = _wpec("messages", "restore", str(mid), *wpec)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert f"message {mid}: restored to main/INBOX" in restored.stdout
    assert _wpec("sync", *wpec).returncode == 0
    with ctx.session() as s:
        row = s.get(RuleAction, waiting[0].id)
        assert (row.status, row.detail) == ("done", None)
    server = _server(sb)
    assert set(server) == {old, new} and b"\\Flagged" in server[new]
    ctx.store.close()


def _sha(raw: bytes) -> str:
    from wpec_invoicing.store.archive import sha256_hex

    return sha256_hex(raw)


def test_suspended_between_select_and_write_nothing_is_audited_as_done(sandbox, tmp_path):
    """A box suspended after the folder was opened read-write (a provider that does not say
    READ-ONLY at SELECT): the STORE itself is refused. The sync's flag waits; housekeeping's
    batch is recorded "undone" (never "done"), the message stays; the account is suspended."""
    from wpec_invoicing.housekeeping.deleter import Housekeeper
    from wpec_invoicing.mailbox.sync import Mailbox

    sb = sandbox
    config = load_config(_config(sb, tmp_path))
    ctx = AppContext(config)
    raw = _message(20)
    _append(sb, raw)

    def suspend(**_info: object) -> None:
        sb.lifecycle.suspend(BOX)
        sb.apply_lifecycle()

    account = config.account("main")
    result = Mailbox(config, account, ctx.store, hooks={"before_server_action": suspend}).sync()
    assert result.archived == 1 and result.server_actions == 0
    assert _server(sb) == {raw: ()}
    assert app.list_accounts(ctx)[0].state == "suspended"
    with ctx.session() as s:
        action = s.scalar(select(RuleAction).where(RuleAction.action == "flag"))
        assert action.status == "pending" and "[READ-ONLY] casella sospesa" in action.detail

    sb.lifecycle.recover(BOX)
    sb.apply_lifecycle()
    report = Housekeeper(config, account, ctx.store, hooks={"pending": suspend}).run()
    assert report.deleted == []
    assert len(report.errors) == 1 and REFUSED in report.errors[0]
    assert _server(sb) == {raw: ()}
    with ctx.session() as s:
        assert [d.status for d in s.scalars(select(Deletion))] == ["undone"]
    ctx.store.close()
