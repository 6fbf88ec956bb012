"""Housekeeping against Dovecot with its quota plugin: the box filled to 90% is brought under
the usage target, every deleted message is in the archive with its hash, a restored message
is back identical (bytes, flags, internal date), and another client's messages are never
expunged even when it marked them \\Deleted itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.integration.conftest import require_dovecot
from tests.integration.housekeeping.conftest import box_config, message, synced_store
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.housekeeping import hold, housekeep, restore, unhold
from wpec_invoicing.housekeeping.deleter import Housekeeper
from wpec_invoicing.store.archive import sha256_hex
from wpec_invoicing.store.housekeeping_models import Deletion, QuotaSample
from wpec_invoicing.store.models import Message

QUOTA = 200 * 1024
MSG = 4000


@pytest.fixture(autouse=True)
def _dovecot() -> None:
    require_dovecot()


def _fill(box, percent: float) -> int:
    count = int(QUOTA * percent / 100 / MSG)
    box.append([message(i, MSG) for i in range(count)])
    return count


def test_fill_to_90_then_under_target_then_restore(make_box, tmp_path):
    box = make_box(QUOTA)
    _fill(box, 90)
    used, limit = box.quota()
    assert used / limit >= 0.85
    config = box_config(tmp_path, box, housekeeping={"retention": {
        "days": {"non-pec": 365}, "usage_target_percent": 70}})
    store = synced_store(config)
    # Flags and dates the restore must bring back.
    with box.client() as c:
        c.select_folder("INBOX")
        first = min(c.search("ALL"))
        c.add_flags([first], [b"\\Seen", b"$Urgente"])
    before = box.contents()
    with AppContext(config, store=store) as ctx:
        plan = housekeep(ctx, dry_run=True)[0]
        assert plan.deleted and plan.freed_bytes == sum(p.size for p in plan.deleted)
        assert box.contents().keys() == before.keys()  # a dry run changes nothing
        report = housekeep(ctx)[0]
    assert [p.uid for p in report.deleted] == [p.uid for p in plan.deleted]
    used, limit = box.quota()
    assert used / limit <= 0.70, (used, limit)
    assert report.quota_before.percent >= 85 and report.quota_after.percent <= 70
    after = box.contents()
    gone = set(before) - set(after)
    assert gone == {p.uid for p in report.deleted}
    assert min(gone) == first  # oldest first
    with store.session() as s:
        rows = {r.uid: r for r in s.scalars(select(Deletion))}
        assert set(rows) == gone and all(r.status == "done" for r in rows.values())
        for uid in gone:
            raw = before[uid][0]
            assert rows[uid].sha256 == sha256_hex(raw)
            assert store.archive.get(rows[uid].sha256) == raw
        assert s.scalar(select(QuotaSample).order_by(QuotaSample.id.desc())).used_bytes == used
        mid = s.scalar(select(Message.id).where(Message.sha256 == rows[first].sha256))
    with AppContext(config, store=store) as ctx:
        outcome = restore(ctx, [mid])[0]
        assert outcome.ok, outcome.error
        again = restore(ctx, [mid])[0]  # it is back on the server: not twice
        assert not again.ok and "already restored" in again.error
    back = [v for v in box.contents().values() if v[0] == before[first][0]]
    assert len(back) == 1
    raw, flags, when = back[0]
    session_only = {b"\\Recent"}  # a session flag, set by the server on any new message
    assert set(flags) - session_only == set(before[first][1]) - session_only
    assert b"$Urgente" in flags and b"\\Seen" in flags
    assert when == before[first][2]


def test_retention_hold_and_kinds_never_deleted(make_box, tmp_path):
    box = make_box(QUOTA)
    box.append([message(i, 1500, tag="r") for i in range(6)])
    config = box_config(tmp_path, box, housekeeping={"retention": {"days": {"non-pec": 30}}})
    store = synced_store(config)
    with store.session() as s:
        ids = sorted(s.scalars(select(Message.id)))
    later = datetime.now(UTC) + timedelta(days=31)
    with AppContext(config, store=store) as ctx:
        assert housekeep(ctx, dry_run=True)[0].deleted == []  # within retention today
        hold(ctx, ids[:2], reason="contenzioso")
        res = Housekeeper(config, config.account(), store, clock=lambda: later).run()
        assert sorted(p.message_id for p in res.deleted) == ids[2:]
        unhold(ctx, ids[:1])
        res = Housekeeper(config, config.account(), store, clock=lambda: later).run()
        assert [p.message_id for p in res.deleted] == ids[:1]
    assert len(box.contents()) == 1
    # Certified mail and anomalies are never deleted automatically (default policy).
    config2 = box_config(tmp_path, box)
    assert config2.housekeeping.retention_for("main")[0]["posta-certificata"] is None


def test_bad_archive_copy_is_fetched_again_never_deleted(make_box, tmp_path):
    box = make_box(QUOTA)
    box.append([message(i, 1500, tag="c") for i in range(5)])
    config = box_config(tmp_path, box, housekeeping={"retention": {"days": {"non-pec": 0}}})
    store = synced_store(config)
    with store.session() as s:
        shas = sorted(s.scalars(select(Message.sha256)))
    store.archive.path(shas[0]).write_bytes(b"truncated")
    store.archive.path(shas[1]).unlink()
    same_size = store.archive.path(shas[2])  # bit rot that keeps the size
    same_size.write_bytes(b"X" * same_size.stat().st_size)
    res = Housekeeper(config, config.account(), store).run()
    assert {p.sha256 for p in res.refetched} == set(shas[:3])
    assert {p.sha256 for p in res.deleted} == set(shas[3:])
    assert all(store.archive.verify(s) for s in shas[:3])
    assert {sha256_hex(v[0]) for v in box.contents().values()} == set(shas[:3])
    # Next pass: the copies are sound again, so they go too.
    res = Housekeeper(config, config.account(), store).run()
    assert {p.sha256 for p in res.deleted} == set(shas[:3])


def test_other_client_messages_never_expunged(make_box, tmp_path):
    box = make_box(QUOTA)
    box.append([message(i, 1500, tag="o") for i in range(8)])
    config = box_config(tmp_path, box, housekeeping={"retention": {"days": {"non-pec": 0}},
                                                     "batch_size": 3})
    store = synced_store(config)
    ours = set(box.contents())
    other = box.client()
    other.select_folder("INBOX")
    added: list[bytes] = []
    calls = {"n": 0}

    def meddle(uids, **_):
        # Between our audit commit and our STORE/EXPUNGE, another client adds mail, marks
        # one of its own \Deleted (without expunging) and deletes one of ours itself.
        calls["n"] += 1
        if calls["n"] == 1:
            other.delete_messages([uids[-1] + 3])
            other.expunge()
        raw = message(100 + calls["n"], 1200, tag="x")
        added.append(raw)
        other.append("INBOX", raw)
        mine = max(other.search("ALL"))
        other.add_flags([mine], [b"\\Deleted"])

    res = Housekeeper(config, config.account(), store, hooks={"pending": meddle}).run()
    other.logout()
    left = box.contents()
    assert not (set(left) & ours)  # ours all gone (deleted by us or by the other client)
    assert sorted(v[0] for v in left.values()) == sorted(added)  # theirs all kept
    assert all(b"\\Deleted" in v[1] for v in left.values())
    assert len(res.deleted) + res.vanished <= len(ours)
    with store.session() as s:
        done = {r.uid for r in s.scalars(select(Deletion).where(Deletion.status == "done"))}
    assert done <= ours


def test_cli_housekeep_json_and_archive_verify(make_box, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from tests.integration.housekeeping.conftest import write_toml
    from wpec_invoicing.cli import app

    box = make_box(QUOTA)
    box.append([message(i, 1500, tag="j") for i in range(3)])
    config = box_config(tmp_path, box, housekeeping={"retention": {"days": {"non-pec": 0}}})
    synced_store(config).close()
    toml = write_toml(tmp_path, config)
    runner = CliRunner()
    out = runner.invoke(app, ["housekeep", "--dry-run", "--json", "-c", str(toml)])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc[0]["dry_run"] and len(doc[0]["deleted"]) == 3
    out = runner.invoke(app, ["archive", "verify", "-c", str(toml)])
    assert out.exit_code == 0, out.output
    today = datetime.now(UTC).date().isoformat()
    zpath = tmp_path / f"wpec-archive-{today}-{today}.zip"
    out = runner.invoke(app, ["archive", "export", "--since", today, "--until", today, "-o",
                              str(tmp_path), "--json", "-c", str(toml)])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["messages"] == 3
    import csv
    import hashlib
    import io
    import zipfile

    with zipfile.ZipFile(zpath) as zf:
        sums = [line.split("  ") for line in zf.read("SHA256SUMS").decode().splitlines()]
        assert {name for _h, name in sums} == set(zf.namelist()) - {"SHA256SUMS"}
        for digest, name in sums:  # the manifest checks out, as `sha256sum -c` would
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        index = list(csv.DictReader(io.StringIO(zf.read("index.csv").decode())))
        assert [r["type"] for r in index] == ["message"] * 3
        assert all(r["status"] == "ok" and r["path"] in zf.namelist() for r in index)
    blob = next((tmp_path / "data" / "archive").glob("*/*"))
    blob.write_bytes(b"bad")
    out = runner.invoke(app, ["archive", "verify", "--json", "-c", str(toml)])
    assert out.exit_code == 1
    assert json.loads(out.stdout)["corrupt"][0]["sha256"] == blob.name
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "wpec_invoicing", "messages", "hold", "999",
                          "-c", str(toml)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert run.stderr.strip() == "wpec: error: no message with id 999"


def test_after_sync_when_enabled(make_box, tmp_path):
    box = make_box(QUOTA)
    box.append([message(i, 1500, tag="a") for i in range(3)])
    config = box_config(tmp_path, box, housekeeping={"after_sync": True, "retention": {
        "days": {"non-pec": 0}}})
    store = synced_store(config)  # the sync archives, processes, then housekeeps
    assert box.contents() == {}
    with store.session() as s:
        assert len(list(s.scalars(select(Deletion).where(Deletion.status == "done")))) == 3


def test_a_box_without_a_quota_rule_is_estimated_not_an_error(make_box, tmp_path):
    """Dovecot answers GETQUOTAROOT without a QUOTA line for a user with no quota rule:
    housekeeping estimates the usage from the messages' sizes instead of failing."""
    box = make_box(None)
    box.append([message(i, MSG) for i in range(5)])
    config = box_config(tmp_path, box)
    store = synced_store(config)
    with AppContext(config, store=store) as ctx:
        report = housekeep(ctx, dry_run=True)[0]
    assert report.quota_before.source == "estimate"
    assert report.quota_before.messages == 5
    assert report.quota_before.used_bytes >= 5 * MSG * 0.9  # message() is about MSG bytes
