"""Several `wpec worker` processes on one PostgreSQL store and many sandbox PEC boxes, with
mail arriving and a mailing going out, SIGKILLed at random moments inside their jobs: every
message must be archived once and every outbox item sent exactly once, counted on the
wire's own evidence (the provider's receipts and the recipients' boxes).
"""

from __future__ import annotations

import collections
import email
import hashlib
import json
import random
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from tests.integration.jobs import harness as h
from wpec_invoicing.config import load_config
from wpec_invoicing.outbox.queue import Outbox
from wpec_invoicing.store.models import Message, MessageLocation
from wpec_invoicing.store.outbox_models import OutboxItem

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def header_counts(raws: list[bytes], header: str) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for raw in raws:
        msg = email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        value = msg.get(header)
        if value:
            counts[value.strip()] += 1
    return counts


def wpec_json(config, *args: str):
    p = subprocess.run([sys.executable, "-m", "wpec_invoicing", *args, "--json", "--config",
                        str(config)], capture_output=True, text=True, timeout=60)
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def queue_mailing(outbox: Outbox, boxes: list[str], n: int, tag: str) -> set[str]:
    queued = outbox.enqueue([outbox.prepare_mail(boxes[i % len(boxes)], f"{tag} {i:03d}",
                                                 f"Comunicazione {i} ({tag}).\n")
                             for i in range(n)])
    return {q.message_id for q in queued}


def all_sent(outbox: Outbox) -> bool:
    with outbox.store.session() as s:
        states = collections.Counter(s.scalars(select(OutboxItem.status)))
    return set(states) == {"sent"}


def archived_everything(sb, outbox: Outbox, boxes: list[str], names: dict[str, str]) -> bool:
    """Every message in every box's INBOX is in the store, once, at its one location."""
    with outbox.store.session() as s:
        for address in boxes:
            raws = sb.fetch(address)
            shas = {hashlib.sha256(r).hexdigest() for r in raws}
            stored = set(s.scalars(select(Message.sha256).join(MessageLocation).where(
                MessageLocation.account == names[address], MessageLocation.folder == "INBOX")))
            if stored != shas:
                return False
    return True


def assert_sent_exactly_once(sb, ids: set[str], boxes: list[str]) -> None:
    accepted = header_counts([r for r in sb.fetch(h.SENDER) if b"X-Ricevuta: accettazione" in r],
                             "X-Riferimento-Message-ID")
    assert set(accepted) == ids
    assert set(accepted.values()) == {1}, "the provider accepted a message twice"
    delivered: collections.Counter = collections.Counter()
    for address in boxes:
        delivered.update(header_counts(sb.fetch(address), "X-Riferimento-Message-ID"))
    assert set(delivered) == ids
    assert set(delivered.values()) == {1}, "a recipient got a message twice"


BOXES = 50  # the scale: 3 workers, 50 accounts
STALLED_AFTER = h.FAST_JOBS["stalled_after_seconds"]


@pytest.mark.timeout(900)  # its own deadline (600 s) speaks first, with the progress made
def test_workers_killed_mid_job_lose_nothing_and_send_nothing_twice(sandbox_dovecot, tmp_path,
                                                                   pg_url):
    sb = sandbox_dovecot
    boxes = h.add_boxes(sb, BOXES)
    # 51 accounts: a sync tick every 5 s (not 2) keeps the 2-core machine from drowning in
    # syncs of unchanged boxes; housekeeping every 10 s as in the other tests.
    config = h.write_config(sb, tmp_path / "wpec.toml", pg_url, boxes,
                            jobs={"sync_cron": "* * * * * */5"})
    cfg = load_config(config)
    names = {a.address: a.name for a in cfg.accounts}
    for i, address in enumerate(boxes):
        h.append(sb, address, [h.plain_message(address, n, "first") for n in range(3 + i % 3)])
    outbox = Outbox(cfg)
    ids = queue_mailing(outbox, boxes, 60, "Avviso")

    # SIGKILLs inside jobs (after the provider's 250 and before our commit; after a folder
    # was archived and before it was processed; at the start of housekeeping), then kills
    # from outside at random moments.
    first = ["send:4", "sync:8", "housekeep:2"]
    plans = ["sync:6", "housekeep:3", "random", "random"]
    rng = random.Random(17)
    log = tmp_path / "workers.log"
    workers = [h.start_worker(config, kill_at=plan, log=log) for plan in first]
    random_victim: tuple[subprocess.Popen, float] | None = None
    kills = 0
    last_kill = time.monotonic()
    second_wave = time.monotonic() + 6
    deadline = time.monotonic() + 600
    next_look = 0.0

    def progress() -> str:
        with outbox.store.session() as s:
            states = collections.Counter(s.scalars(select(OutboxItem.status)))
            stored = s.scalar(select(func.count()).select_from(Message))
        return f"{kills} kills, outbox {dict(states)}, {stored} messages stored"

    try:
        while True:
            if second_wave and time.monotonic() > second_wave:  # mail keeps arriving
                for address in boxes[::2]:
                    h.append(sb, address, [h.plain_message(address, n, "second")
                                           for n in range(2)])
                second_wave = 0
            for i, p in enumerate(workers):
                if p.poll() is None:
                    continue
                assert p.returncode == -signal.SIGKILL, log.read_text()[-3000:]
                kills += 1
                last_kill = time.monotonic()
                plan = plans.pop(0) if plans else None
                if plan == "random":
                    workers[i] = h.start_worker(config, log=log)
                    random_victim = (workers[i], time.monotonic() + rng.uniform(2, 6))
                else:
                    workers[i] = h.start_worker(config, kill_at=plan, log=log)
            if random_victim and time.monotonic() > random_victim[1]:
                random_victim[0].send_signal(signal.SIGKILL)
                random_victim = None
                last_kill = time.monotonic()
            if kills >= 5 and not plans and random_victim is None and not second_wave \
                    and time.monotonic() > next_look and all_sent(outbox):
                if archived_everything(sb, outbox, boxes, names):
                    break
                next_look = time.monotonic() + 3
            assert time.monotonic() < deadline, f"not done after 600 s: {progress()}"
            time.sleep(0.5)

        def recovered():  # a job the last kill interrupted is given back to the others
            # (until the dead worker's heartbeat is older than the stalled timeout, its job
            # still looks "running": judge only after that)
            if time.monotonic() - last_kill < STALLED_AFTER + 2:
                return False
            data = wpec_json(config, "jobs")[1]
            return data is not None and not any(j["state"] == "stalled"
                                                for j in data["failed_or_stalled"])

        h.wait_for(recovered, timeout=60, what="the stalled jobs to be recovered")
    finally:
        h.stop_workers(workers)
    assert kills >= 5
    assert "was running on a worker that stopped beating: queued again" in log.read_text()

    sb.wait_idle(10)
    h.wait_for(lambda: len([r for r in sb.fetch(h.SENDER) if b"X-Ricevuta: accettazione" in r])
               >= len(ids), timeout=30, what="every acceptance receipt")
    assert_sent_exactly_once(sb, ids, boxes)
    with outbox.store.session() as s:
        dupes = s.execute(select(Message.sha256).group_by(Message.sha256)
                          .having(func.count() > 1)).all()
        assert dupes == []
    # The workers stopped cleanly: nothing left running.
    _code, data, err = wpec_json(config, "jobs")
    assert data is not None, err
    assert all(c["running"] == 0 for c in data["counts"]), data
    assert data["workers_alive"] == 0
    outbox.close()


def test_the_rate_limit_is_shared_by_every_worker(sandbox, tmp_path, pg_url):
    """Three workers take turns sending for one throttled account (short jobs, so the turn
    passes often): the provider never sees more than it allows, because the bucket is one
    row in PostgreSQL, not one per worker. (The account is configured 10% under the
    provider's limit, as an operator would: at exactly the same rate the network's jitter
    alone can make two messages arrive a hair too close.)"""
    sb = sandbox
    boxes = h.add_boxes(sb, 2)
    config = h.write_config(sb, tmp_path / "wpec.toml", pg_url, boxes,
                            limits={"messages_per_minute": 36, "burst": 2, "concurrency": 2,
                                    "max_message_mb": 30},
                            jobs={"send_cron": "* * * * * *", "send_max_seconds": 2,
                                  "sync_cron": "", "housekeep_cron": ""})
    sb.set_throttle(h.SENDER, messages_per_minute=40, burst=2, style="451")
    outbox = Outbox(load_config(config))
    ids = queue_mailing(outbox, boxes, 14, "Ritmo")
    workers = [h.start_worker(config, concurrency=2, log=tmp_path / "w.log") for _ in range(3)]
    try:
        h.wait_for(lambda: all_sent(outbox), timeout=120, what="every item sent")
    finally:
        h.stop_workers(workers)
    assert sb.provider.throttle.refusals == 0, "the provider saw more than the allowed rate"
    sb.wait_idle(10)
    h.wait_for(lambda: len([r for r in sb.fetch(h.SENDER) if b"X-Ricevuta: accettazione" in r])
               >= len(ids), timeout=30, what="every acceptance receipt")
    assert_sent_exactly_once(sb, ids, boxes)
    outbox.close()
