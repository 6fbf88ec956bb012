"""A big sync parses messages in a worker process (`ingest.ahead`): the same box synced with
and without workers must give the same records, verdicts, invoices and rule results, and a
message the worker cannot parse is handled as before (archived, its error recorded)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.ingest.conftest import append, make_config, open_store
from wpec_invoicing.ingest import ahead
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.store.models import Message, ReceivedInvoice, RuleAction

MESSAGE_FIELDS = ("kind", "status", "subject", "sender", "message_id", "identificativo",
                  "error", "details")


def _timeless(value):
    """`checked_at` says when a signature was checked: the one field that differs."""
    if isinstance(value, dict):
        return {k: _timeless(v) for k, v in value.items() if k != "checked_at"}
    if isinstance(value, list):
        return [_timeless(v) for v in value]
    return value


def _snapshot(store) -> dict:
    with store.session() as s:
        messages = {m.sha256: (m.kind, m.status, m.subject, m.sender, m.message_id,
                               m.identificativo, m.error, _timeless(m.details))
                    for m in s.scalars(select(Message))}
        invoices = {i.file_sha256: (i.status, i.reasons, i.supplier_vat, i.number, i.total,
                                    _timeless(i.envelope_signature), i.valid)
                    for i in s.scalars(select(ReceivedInvoice))}
        sha_of = {m.id: m.sha256 for m in s.scalars(select(Message))}
        actions = sorted((sha_of[a.message_id], a.action, a.status, a.detail)
                         for a in s.scalars(select(RuleAction)))
    return {"messages": messages, "invoices": invoices, "actions": actions}


@pytest.mark.slow
def test_a_big_sync_gives_the_same_results_with_and_without_workers(
        dovecot_server, mailbox, factory, tmp_path: Path, monkeypatch) -> None:
    login, password = mailbox
    raws = factory.mixed(ahead.MIN_MESSAGES + 30)
    broken = raws[5][: len(raws[5]) // 3]  # a PEC envelope cut short: no clean parse
    append("127.0.0.1", dovecot_server.imaps_port, dovecot_server.ca_path, login, password,
           [*raws, broken, b"not a mail message at all \x00\xff"])
    results = {}
    # Every message through the worker (no parsing here while it starts): what is compared.
    monkeypatch.setattr(ahead, "STEAL_WHILE_STARTING", False)
    for workers in ("0", "1"):
        monkeypatch.setenv(ahead.ENV_WORKERS, workers)
        (tmp_path / f"w{workers}").mkdir()
        config = make_config(
            tmp_path / f"w{workers}", login=login, ca_pem=factory.ca_pem,
            imap={"host": "127.0.0.1", "port": dovecot_server.imaps_port,
                  "ca_file": str(dovecot_server.ca_path), "password": password})
        store = open_store(config)
        try:
            box = Mailbox(config, config.account(), store)
            result = box.sync()
            assert result.archived == len(raws) + 2
            snapshot = _snapshot(store)
            saved = Path(config.rules.save_dir)
            # A message without a date is filed under the time it was first seen, and
            # header.json says when the signature was checked: the rest must be equal.
            snapshot["files"] = sorted(
                (re.sub(r"\d{8}-\d{6}", "(time)", str(f.relative_to(saved))),
                 re.sub(rb'"checked_at": "[^"]*"', b"", f.read_bytes()))
                for f in saved.rglob("*") if f.is_file())
            results[workers] = (snapshot, box.pipeline.parsed_ahead, result.errors,
                                box.pipeline.saved_ahead)
        finally:
            store.close()
    (plain, none_ahead, plain_errors, none_saved), \
        (pooled, some_ahead, pooled_errors, some_saved) = results["0"], results["1"]
    assert none_ahead == 0 and none_saved == 0
    # The worker also wrote the saved files of most messages (those with a date of their
    # own and a rule that saves something): what follows compares them with this process's.
    assert some_saved > len(raws) // 3, some_saved
    # The worker parsed every message recorded once it was started (the first batch is
    # recorded before the size of the run is known).
    assert some_ahead >= len(raws) + 2 - 2 * ahead.TASK_MESSAGES - 100
    assert pooled_errors == plain_errors
    for sha, fields in plain["messages"].items():  # field by field, for a readable failure
        for name, mine, theirs in zip(MESSAGE_FIELDS, pooled["messages"][sha], fields,
                                      strict=True):
            assert mine == theirs, (sha, name)
    assert pooled["messages"] == plain["messages"]
    assert pooled["invoices"] == plain["invoices"] and plain["invoices"]
    assert pooled["actions"] == plain["actions"]
    # The files the rules saved (header.json, bodies, attachments): the same, byte for byte.
    assert [n for n, _d in pooled["files"]] == [n for n, _d in plain["files"]]
    assert pooled["files"] == plain["files"] and plain["files"]


def test_a_small_sync_starts_no_worker(monkeypatch, tmp_path: Path) -> None:
    """Below MIN_MESSAGES a worker would cost more to start than it saves."""
    from wpec_invoicing.ingest.context import IngestContext
    from wpec_invoicing.ingest.pipeline import Pipeline

    monkeypatch.setenv(ahead.ENV_WORKERS, "1")
    pipe = Pipeline(IngestContext(config=None, store=None, trust_from_config=True))
    with pipe.parsing_ahead(ahead.MIN_MESSAGES - 1) as used:
        assert used is False and pipe.ahead is None
    with pipe.parsing_ahead(ahead.MIN_MESSAGES * 10) as used:  # but a big one does
        assert used is True and pipe.ahead is not None
    assert pipe.ahead is None  # and it is closed after the block


def test_a_callers_own_trust_store_keeps_the_parse_in_process(monkeypatch) -> None:
    """A worker rebuilds the trust from the config; a trust store an application passed in
    cannot travel, so its messages are parsed where it is."""
    from wpec_invoicing.ingest.context import IngestContext
    from wpec_invoicing.ingest.pipeline import Pipeline

    monkeypatch.setenv(ahead.ENV_WORKERS, "1")
    pipe = Pipeline(IngestContext(config=None, store=None, trust=object(),
                                  trust_from_config=False))
    with pipe.parsing_ahead(ahead.MIN_MESSAGES * 10) as used:
        assert used is False


def test_workers_are_off_where_the_program_is_not_wpec(monkeypatch) -> None:
    monkeypatch.delenv(ahead.ENV_WORKERS, raising=False)
    assert ahead.workers_wanted() == 0  # pytest's main module is not ours
    monkeypatch.setenv(ahead.ENV_WORKERS, "lots")
    assert ahead.workers_wanted() == 0  # a bad value turns them off, with a warning


def test_tasks_taken_back_from_a_slow_worker_give_what_the_worker_gives(
        factory, tmp_path: Path, monkeypatch) -> None:
    """When the worker is behind, the classifying thread does the next queued tasks
    itself (`Ahead._take_back`): every message still gets exactly one result, the one the
    worker would have given, and the files its rule saves."""
    from wpec_invoicing.ingest.context import load_trust

    monkeypatch.setattr(ahead, "STEAL_WHILE_STARTING", True)
    config = make_config(tmp_path, ca_pem=factory.ca_pem)
    raws = factory.mixed(6 * ahead.TASK_MESSAGES)
    messages = [(n + 1, f"{n + 1:064x}", raw) for n, raw in enumerate(raws)]
    trust = load_trust(config)
    expected = ahead._inspect_many(messages, trust, config)  # in this process, for reference
    saved = Path(config.rules.save_dir)
    def saved_files() -> dict[Path, bytes]:  # header.json says when a signature was checked
        return {f: re.sub(rb'"checked_at": "[^"]*"', b"", f.read_bytes())
                for f in saved.rglob("*") if f.is_file()}

    files = saved_files()
    assert files
    for f in files:
        f.unlink()
    pool = ahead.Ahead(config, 1, trust)
    try:
        pool.submit(messages[:ahead.TASK_MESSAGES])
        pool._queued[0][0].result(timeout=120)  # the worker is up (its first task done)
        deadline = time.monotonic() + 60
        while not pool._started and time.monotonic() < deadline:
            time.sleep(0.01)  # the task's done-callback runs just after its result is set
        pool.submit(messages[ahead.TASK_MESSAGES:])  # five more tasks, queued at once
        got = {mid: pool.take(mid) for mid, _s, _r in messages}
        assert pool.taken_back > 0  # queued ones were done here, not waited for
    finally:
        pool.close()
    for (mid, _sha, _raw), (pec, prepared) in zip(messages, expected, strict=True):
        mine, theirs = got[mid]
        assert mine is not None, mid
        assert _timeless(mine.to_json()) == _timeless(pec.to_json()), mid
        assert (theirs.saved is None) == (prepared.saved is None), mid
        if prepared.saved is not None:
            assert theirs.saved.paths == prepared.saved.paths
    assert saved_files() == files
