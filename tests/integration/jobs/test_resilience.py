"""The queue under trouble: PostgreSQL restarting under running workers, and boxes whose
server always fails or hangs, next to healthy ones."""

from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy import select, text

from tests.integration.jobs import harness as h
from tests.integration.jobs.test_workers import (
    all_sent,
    archived_everything,
    assert_sent_exactly_once,
    queue_mailing,
)
from tests.unit.store.postgres import PostgresCluster, _bin_dir
from wpec_invoicing.config import load_config
from wpec_invoicing.outbox.queue import Outbox
from wpec_invoicing.store.outbox_models import OutboxAlert, OutboxItem

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def own_cluster():
    """A PostgreSQL cluster of this test alone: it is restarted under the workers."""
    if _bin_dir() is None:
        pytest.skip("PostgreSQL binaries not installed (make test installs them)")
    cluster = PostgresCluster()
    try:
        yield cluster
    finally:
        cluster.stop()


def test_workers_ride_through_a_postgresql_restart(sandbox_dovecot, tmp_path, own_cluster):
    sb = sandbox_dovecot
    boxes = h.add_boxes(sb, 5)
    config = h.write_config(sb, tmp_path / "wpec.toml", own_cluster.new_database(), boxes,
                            jobs={"housekeep_cron": ""})
    cfg = load_config(config)
    names = {a.address: a.name for a in cfg.accounts}
    for address in boxes:
        h.append(sb, address, [h.plain_message(address, n) for n in range(4)])
    outbox = Outbox(cfg)
    ids = queue_mailing(outbox, boxes, 24, "Riavvio")
    log = tmp_path / "workers.log"
    workers = [h.start_worker(config, log=log) for _ in range(2)]

    def sent() -> int:
        with outbox.store.session() as s:
            return len(s.scalars(select(OutboxItem.id).where(OutboxItem.status == "sent")).all())

    try:
        h.wait_for(lambda: sent() >= 3, timeout=120, what="the first sends")
        # Mid-run: the database goes away and comes back (fast shutdown: sessions cut).
        pg_ctl = str(own_cluster.bindir / "pg_ctl")
        own_cluster._run([pg_ctl, "-D", str(own_cluster.data), "-m", "fast", "-w", "-t", "60",
                          "-l", str(own_cluster.tmp / "log"), "restart"])
        for address in boxes:  # and mail keeps arriving
            h.append(sb, address, [h.plain_message(address, n, "after") for n in range(2)])
        h.wait_for(lambda: all_sent(outbox) and archived_everything(sb, outbox, boxes, names),
                   timeout=240, every=2, what="every item sent and every message archived")
        assert all(p.poll() is None for p in workers), "a worker died with the database"
    finally:
        h.stop_workers(workers)
    assert "is back: working again" in log.read_text()
    sb.wait_idle(10)
    h.wait_for(lambda: len([r for r in sb.fetch(h.SENDER) if b"X-Ricevuta: accettazione" in r])
               >= len(ids), timeout=30, what="every acceptance receipt")
    assert_sent_exactly_once(sb, ids, boxes)
    outbox.close()


class Silent:
    """A TCP server that accepts and never answers (a hung IMAP server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.sock.settimeout(0.5)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.held.append(conn)

    def close(self) -> None:
        self.stop.set()
        for c in self.held:
            c.close()
        self.sock.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_broken_box_backs_off_and_alerts_without_holding_up_the_others(
        sandbox_dovecot, tmp_path, pg_url):
    sb = sandbox_dovecot
    boxes = h.add_boxes(sb, 6)
    down, hung = boxes[4], boxes[5]
    good = boxes[:4]
    silent = Silent()
    config = h.write_config(
        sb, tmp_path / "wpec.toml", pg_url, boxes,
        jobs={"housekeep_cron": "", "retry_base_seconds": 2, "retry_cap_seconds": 8},
        imap_overrides={down: {"port": closed_port()},
                        hung: {"port": silent.port, "timeout_seconds": 2}})
    cfg = load_config(config)
    names = {a.address: a.name for a in cfg.accounts}
    for address in good:
        h.append(sb, address, [h.plain_message(address, n) for n in range(3)])
    outbox = Outbox(cfg)
    # One worker, two jobs at once: a hung box holding a slot must not hold up the rest.
    workers = [h.start_worker(config, concurrency=2, log=tmp_path / "w.log")]

    def alerts() -> set[str]:
        with outbox.store.session() as s:
            return set(s.scalars(select(OutboxAlert.account).where(
                OutboxAlert.kind == "job-failing", OutboxAlert.resolved_at.is_(None))))

    def backing_off(name: str) -> bool:
        with outbox.store.session() as s:
            row = s.execute(text(
                "SELECT attempts, scheduled_at > now() AS later FROM procrastinate_jobs "
                "WHERE queueing_lock = :q AND status = 'todo'"), {"q": f"sync:{name}"}).first()
        return row is not None and row.attempts >= 1 and bool(row.later)

    try:
        h.wait_for(lambda: {names[down], names[hung]} <= alerts(), timeout=180,
                   what="an alert for each broken box")
        h.wait_for(lambda: archived_everything(sb, outbox, good, names), timeout=120,
                   what="the healthy boxes synced")
        # New mail for the healthy boxes is fetched while the broken ones keep failing.
        for address in good:
            h.append(sb, address, [h.plain_message(address, n, "later") for n in range(2)])
        h.wait_for(lambda: archived_everything(sb, outbox, good, names), timeout=120,
                   what="the new mail of the healthy boxes")
        h.wait_for(lambda: backing_off(names[down]) and backing_off(names[hung]), timeout=60,
                   what="the broken boxes' syncs waiting out their back-off")
        assert {names[down], names[hung]} <= alerts()
        assert not alerts() & {names[a] for a in good}
    finally:
        h.stop_workers(workers)
        silent.close()
    outbox.close()


def test_jobs_lists_a_failed_job_and_retry_runs_it_again(sandbox, tmp_path, pg_url):
    from tests.integration.jobs.test_workers import wpec_json
    from wpec_invoicing.jobs.queue import build_app, defer

    sb = sandbox
    boxes = h.add_boxes(sb, 1)
    config = h.write_config(
        sb, tmp_path / "wpec.toml", pg_url, boxes,
        jobs={"sync_cron": "", "send_cron": "", "housekeep_cron": "", "lifecycle_cron": "",
              "max_attempts": 1, "alert_after_failures": 1},
        imap_overrides={boxes[0]: {"port": closed_port()}})
    cfg = load_config(config)
    name = cfg.accounts[1].name
    app = build_app(cfg)
    with app.open():
        assert defer(app, "sync", name) is not None
        assert defer(app, "sync", name) is None  # one queued per kind and account
    app.wpec_runtime.close()
    workers = [h.start_worker(config, concurrency=1, log=tmp_path / "w.log")]

    def failed(min_attempts: int):
        code, data, _err = wpec_json(config, "jobs")
        jobs = [j for j in (data or {}).get("failed_or_stalled", [])
                if j["state"] == "failed" and j["account"] == name
                and j["attempts"] >= min_attempts]
        return (code, data, jobs[0]) if jobs else None

    try:
        code, data, job = h.wait_for(lambda: failed(1), timeout=60, what="the failed sync")
        assert code == 1  # a monitoring check sees it
        assert {"kind": "sync", "account": name, "queued": 0, "running": 0, "failed": 1,
                "stalled": 0} in data["counts"]
        code, data, err = wpec_json(config, "jobs", "retry", str(job["id"]))
        assert code == 0, err
        assert data["state"] == "queued"
        h.wait_for(lambda: failed(2), timeout=60, what="the retried sync to run (and fail)")
        code, _data, err = wpec_json(config, "jobs", "retry", "999999")
        assert code == 2 and "no such job" in err
    finally:
        h.stop_workers(workers)
