"""Crash safety: SIGKILL the sync at random points, re-run, and check the promise.

Each trial forks a sync (fork: no interpreter start-up, so trials stay small and fast) that
reports every step (archived, committed, processed, before a server action) on a pipe; the
parent kills it with SIGKILL after a random number of steps, or after a random delay counted
from the first step (to land inside an IMAP command or an archive write). Only kills that land
after the child did real work (at least one step) count toward MIN_KILLS: a kill during
start-up proves nothing. Right after each kill, and before anything runs again, every message
that was moved or flagged on the server must already be archived and committed. New mail
arrives between trials. At the end one clean sync runs, and every message on the server has
exactly one location row (account, folder, UIDVALIDITY, UID; a moved one: its INBOX row marked
gone) and one intact archived blob, processed, with no extra row and no server action pending.
"""

from __future__ import annotations

import os
import random
import select
import signal
import time
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select as sql_select

from tests.integration.ingest.conftest import (
    append,
    folder_contents,
    folder_uids,
    make_config,
)
from wpec_invoicing.store.archive import sha256_hex
from wpec_invoicing.store.db import Store
from wpec_invoicing.store.models import Message, RuleAction

MIN_KILLS = 20
MAX_TRIALS = 40
RULES = {"kinds": {
    "accettazione": {"move_to": "PEC/Ricevute"},
    "avvenuta-consegna": {"move_to": "PEC/Ricevute", "flag": ["$Ricevuta"]},
    "sdi-invoice": {"flag": ["$Fattura"], "save": ["attachments"]},
    "sdi-notification": {"move_to": "PEC/SdI"},
}}


def _sync_in_child(config, write_fd: int) -> None:
    """The child: a fresh store connection, a sync reporting each step on the pipe."""
    from wpec_invoicing.mailbox.sync import Mailbox

    def step(**_info: object) -> None:
        os.write(write_fd, b".")

    code = 0
    try:
        store = Store.from_config(config)
        hooks = {name: step for name in ("archived", "committed", "processed",
                                         "before_server_action")}
        Mailbox(config, config.account(), store, hooks=hooks).sync()
    except BaseException:
        code = 1
    os._exit(code)


def _run_and_kill(config, rng: random.Random, new: int) -> tuple[str, int]:
    """Fork a sync and kill it at a random point; (what happened, steps it reported)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        os.close(read_fd)
        _sync_in_child(config, write_fd)
    os.close(write_fd)
    by_steps = rng.random() < 0.7
    # ~3 steps per new message (archived, committed per batch, processed) plus server actions.
    kill_after = rng.randint(1, 3 * new + 1) if by_steps else None
    delay = None if by_steps else rng.uniform(0.0, 0.15)
    deadline = time.monotonic() + 30.0  # until the first step: a stuck child fails the test
    steps, how = 0, "finished"
    try:
        while True:
            timeout = max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([read_fd], [], [], timeout)
            if not ready:
                assert steps, "the sync reported no step in 30 s"
                os.kill(pid, signal.SIGKILL)
                how = f"killed {delay:.2f}s after the first step"
                break
            chunk = os.read(read_fd, 64)
            if not chunk:
                break  # the child finished before the chosen point
            if not steps and delay is not None:
                deadline = time.monotonic() + delay
            steps += len(chunk)
            if kill_after is not None and steps >= kill_after:
                os.kill(pid, signal.SIGKILL)
                how = f"killed at step {steps}"
                break
    finally:
        os.close(read_fd)
        os.waitpid(pid, 0)
    return how, steps


def _server_state(dovecot_server, login: str, password: str):
    return folder_contents("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path,
                           login, password)


def _check_acted_on_only_after_archive(boxes, store: Store, label: str) -> None:
    with store.session() as s:
        committed = set(s.scalars(sql_select(Message.sha256)))
    for folder, items in boxes.items():
        for raw, flags in items:
            acted = folder != "INBOX" or b"$Fattura" in flags or b"$Ricevuta" in flags
            if acted:
                digest = sha256_hex(raw)
                assert digest in committed, f"{label}: moved/flagged before it was committed"
                assert store.archive.verify(digest), f"{label}: moved/flagged, not archived"


def _check_one_location_per_server_message(account: str, synced: list[str], server, store: Store
                                           ) -> None:
    """Every message on the server has exactly one location row and one intact archived
    blob; there is no row that matches nothing on the server.

    A message in a synced folder has its live row (same folder, UIDVALIDITY and UID, same
    bytes); one a rule moved away (to a folder the sync does not read) has the row of where
    it was, marked gone: so the gone rows are, byte for byte, the moved messages."""
    from collections import Counter

    from wpec_invoicing.store.models import MessageLocation

    with store.session() as s:
        rows = s.execute(sql_select(MessageLocation.folder, MessageLocation.uidvalidity,
                                    MessageLocation.uid, MessageLocation.gone, Message.sha256)
                         .join(Message, MessageLocation.message_id == Message.id)
                         .where(MessageLocation.account == account)).all()
        all_rows = s.scalar(sql_select(func.count()).select_from(MessageLocation))
        shas = list(s.scalars(sql_select(Message.sha256)))
    live = Counter((f, v, u, sha) for f, v, u, gone, sha in rows if not gone)
    expected_live = Counter((f, v, u, sha256_hex(raw)) for f, (v, msgs) in server.items()
                            if f in synced for u, raw in msgs.items())
    assert live == expected_live, "live location rows differ from the synced folders' UIDs"
    moved = Counter(sha for _f, _v, _u, gone, sha in rows if gone)
    expected_moved = Counter(sha256_hex(raw) for f, (_v, msgs) in server.items()
                             if f not in synced for raw in msgs.values())
    assert moved == expected_moved, "gone location rows differ from the moved messages"
    assert all_rows == len(rows) == sum(len(msgs) for _v, msgs in server.values())
    on_server = {sha for *_key, sha in expected_live} | set(expected_moved)
    assert sorted(shas) == sorted(on_server), "messages in the store != messages on the server"
    assert all(store.archive.verify(sha) for sha in shas)


@pytest.mark.slow
def test_sigkill_at_random_points_loses_and_duplicates_nothing(
        dovecot_server, mailbox, factory, db_url: str, tmp_path: Path) -> None:
    login, password = mailbox
    imap = {"host": "127.0.0.1", "port": dovecot_server.imaps_port,
            "ca_file": str(dovecot_server.ca_path), "password": password}
    config = make_config(tmp_path, db_url=db_url, imap=imap, login=login,
                         ca_pem=factory.ca_pem, extra={"rules": RULES})
    config = config.model_copy(update={"accounts": [config.account().model_copy(
        update={"batch_size": 3})]})
    rng = random.Random(20261123)
    store = Store.from_config(config)  # migrate once, in the parent
    store.close()
    outcomes: list[tuple[str, int]] = []

    def real_kills() -> int:  # kills that landed after the sync did some work
        return sum(how.startswith("killed") and steps > 0 for how, steps in outcomes)

    trial = 0
    while real_kills() < MIN_KILLS and trial < MAX_TRIALS:
        trial += 1
        new = rng.randint(2, 5)
        append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
               factory.mixed(new))
        outcomes.append(_run_and_kill(config, rng, new))
        check = Store.from_config(config, migrate=False)
        try:
            _check_acted_on_only_after_archive(
                _server_state(dovecot_server, login, password), check, f"trial {trial}")
        finally:
            check.close()
    assert real_kills() >= MIN_KILLS, outcomes

    # A clean run completes whatever the kills left half done.
    from wpec_invoicing.mailbox.sync import Mailbox

    store = Store.from_config(config)
    try:
        Mailbox(config, config.account(), store).sync()
        boxes = _server_state(dovecot_server, login, password)
        _check_acted_on_only_after_archive(boxes, store, "final")
        _check_one_location_per_server_message(
            config.account().name, config.account().folders,
            folder_uids("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path,
                        login, password), store)
        with store.session() as s:
            pending = s.scalar(sql_select(func.count()).select_from(RuleAction).where(
                RuleAction.status == "pending"))
            statuses = set(s.scalars(sql_select(Message.status)))
        assert statuses == {"processed"}
        assert pending == 0
        assert boxes.get("PEC/Ricevute"), "the rules never moved anything: test is vacuous"
        # No message is left stranded in INBOX that a rule should have moved.
        with store.session() as s:
            kinds = dict(s.execute(sql_select(Message.sha256, Message.kind)).all())
        for raw, _flags in boxes["INBOX"]:
            assert kinds[sha256_hex(raw)] not in ("accettazione", "avvenuta-consegna",
                                                  "sdi-notification")
    finally:
        store.close()
