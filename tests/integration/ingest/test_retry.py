"""`wpec messages list` / `wpec messages retry`: a message whose processing failed is kept with
its reason, listed, and processed again once the cause is gone, with its account's rules.

The failure is provoked for real: the message's archive blob is taken away before processing
(as when the archive's disk is unavailable at that moment), then put back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.ingest.conftest import make_config, open_store
from wpec_invoicing.ingest import Pipeline, store_raw_message
from wpec_invoicing.mailbox.retry import retry_failed
from wpec_invoicing.store.models import Message, MessageLocation, RuleAction

IMAP = {"host": "127.0.0.1", "port": 1, "password": "unused"}  # never contacted here


def _write_config(tmp_path: Path, db_url: str) -> None:
    from tests.integration.ingest.factory import COMPANY_VAT

    store = f'store_url = "{db_url}"' if db_url else ""
    (tmp_path / "wpec.toml").write_text(
        f'data_dir = "data"\n{store}\n[company]\nname = "Cliente Demo S.p.A."\n'
        f'vat = "{COMPANY_VAT}"\n', encoding="utf-8")


def wpec(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WPEC_CONFIG": str(tmp_path / "wpec.toml"), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args], capture_output=True,
                          text=True, env=env, cwd=tmp_path, check=False, timeout=120)


def _failed_message(config, store, raw: bytes, *, account: str | None = None) -> int:
    """Store `raw`, take its blob away, process it: it ends in "error" with the reason."""
    with store.session() as s:
        msg, _created = store_raw_message(s, store.archive, raw, source="imap")
        if account is not None:
            s.add(MessageLocation(message_id=msg.id, account=account, folder="INBOX",
                                  uidvalidity=1, uid=7))
        msg_id, digest = msg.id, msg.sha256
    blob = store.archive.path(digest)
    hidden = blob.with_name(blob.name + ".away")
    blob.rename(hidden)
    assert Pipeline.for_config(config, store).process_many([msg_id]) == [False]
    hidden.rename(blob)  # the disk is back
    return msg_id


def test_cli_lists_the_failed_message_and_retries_it(tmp_path: Path, db_url: str,
                                                    factory) -> None:
    _write_config(tmp_path, db_url)
    config = make_config(tmp_path, db_url=db_url)
    store = open_store(config)
    try:
        ok_id = _failed_message(config, store, factory.receipt())
        with store.session() as s:
            assert s.get(Message, ok_id).status == "error"
        # a second one whose blob stays away: it fails again
        with store.session() as s:
            msg, _ = store_raw_message(s, store.archive, factory.plain(), source="imap")
            gone_id, gone_sha = msg.id, msg.sha256
        store.archive.path(gone_sha).unlink()
        Pipeline.for_config(config, store).process_many([gone_id])
    finally:
        store.close()

    listed = wpec(tmp_path, "messages", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {ok_id, gone_id}
    assert "archive has no blob" in rows[ok_id]["error"]
    human = wpec(tmp_path, "messages", "list")
    assert str(ok_id) in human.stdout and "archive has no blob" in human.stdout

    retried = wpec(tmp_path, "messages", "retry", "--all", "--json")
    assert retried.returncode == 1, retried.stderr  # one failed again
    outcome = {r["id"]: r for r in json.loads(retried.stdout)}
    assert outcome[ok_id]["ok"] and outcome[ok_id]["status"] == "processed"
    assert not outcome[gone_id]["ok"] and "archive has no blob" in outcome[gone_id]["error"]

    store = open_store(config)
    try:
        with store.session() as s:
            msg = s.get(Message, ok_id)
            assert msg.status == "processed" and msg.error is None
            assert msg.kind == "avvenuta-consegna"
    finally:
        store.close()
    again = wpec(tmp_path, "messages", "retry", str(ok_id))
    assert again.returncode == 0 and "nothing to retry" in again.stderr
    assert "error" not in {r["status"] for r in json.loads(
        wpec(tmp_path, "messages", "list", "--status", "processed", "--json").stdout)}


def test_cli_refuses_unclear_requests(tmp_path: Path) -> None:
    _write_config(tmp_path, "")
    for args, words in ((("retry",), "--all"), (("retry", "424242"), "no message with id 424242"),
                        (("retry", "1", "--all"), "not both"),
                        (("list", "--status", "lost"), "expected one of")):
        run = wpec(tmp_path, "messages", *args)
        assert run.returncode == 2, (args, run.stderr)
        assert words in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("account_known", [True, False])
def test_retry_queues_the_rules_server_actions_for_the_messages_account(
        tmp_path: Path, factory, account_known: bool) -> None:
    config = make_config(tmp_path, imap=dict(IMAP), login="azienda@pec.sandbox.test",
                         extra={"rules": {"kinds": {"non-pec": {"move_to": "Posta"}}}})
    store = open_store(config)
    try:
        account = config.account().name if account_known else "an-account-since-removed"
        msg_id = _failed_message(config, store, factory.plain(), account=account)
        outcomes = retry_failed(store, config)
        assert [(o.id, o.ok, o.status) for o in outcomes] == [(msg_id, True, "processed")]
        with store.session() as s:
            moves = s.scalars(select(RuleAction).where(RuleAction.message_id == msg_id,
                                                       RuleAction.action == "move")).all()
            # the sync that fetched it would have queued the move on its account; an
            # account no longer configured gets no server action (nobody could run it)
            assert [(m.target, m.status) for m in moves] == (
                [("Posta", "pending")] if account_known else [])
    finally:
        store.close()


def test_a_retry_that_cannot_start_leaves_the_failed_messages_as_they_were(
        tmp_path: Path, factory) -> None:
    _write_config(tmp_path, "")
    config = make_config(tmp_path)
    store = open_store(config)
    try:
        msg_id = _failed_message(config, store, factory.receipt())
    finally:
        store.close()
    good = (tmp_path / "wpec.toml").read_text(encoding="utf-8")
    # a trust store that cannot be read: the processing cannot even be set up
    (tmp_path / "wpec.toml").write_text('trust_store = "missing.pem"\n' + good,
                                        encoding="utf-8")
    run = wpec(tmp_path, "messages", "retry", "--all")
    assert run.returncode == 2 and "missing.pem" in run.stderr, run.stderr
    (tmp_path / "wpec.toml").write_text(good, encoding="utf-8")
    rows = json.loads(wpec(tmp_path, "messages", "list", "--json").stdout)
    assert [(r["id"], r["status"]) for r in rows] == [(msg_id, "error")]
    assert "archive has no blob" in rows[0]["error"]
