"""kill -9 of housekeeping at random points: afterwards no message is both gone from the
server and missing or corrupt in the archive (every message is checked after every kill).

Each trial runs `wpec housekeep` as its own process under `killhk.py`, which SIGKILLs it just
before or just after its K-th IMAP command (K random): in the middle of the audit commit, the
UID STORE, the UID EXPUNGE or the `done` commit. Between trials an archive blob is corrupted or
removed (the pass must fetch it again, never delete its message) and new mail arrives and is
synced. At the end one clean pass runs and nothing is left pending.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.conftest import require_dovecot
from tests.integration.housekeeping.conftest import box_config, message, write_toml
from wpec_invoicing.housekeeping.verify import blob_problem
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.store.archive import sha256_hex
from wpec_invoicing.store.db import Store
from wpec_invoicing.store.housekeeping_models import Deletion
from wpec_invoicing.store.models import Message

KILLS = 6
WRAPPER = Path(__file__).with_name("killhk.py")


def _check_every_message(store: Store, box, every_raw: dict[str, bytes]) -> None:
    on_server = {sha256_hex(v[0]) for v in box.contents().values()}
    with store.session() as s:
        known = dict(s.execute(select(Message.sha256, Message.size)).all())
    for sha, raw in every_raw.items():
        if sha in on_server:
            continue
        assert sha in known, f"message {sha[:12]} left the server without being recorded"
        assert blob_problem(store.archive, sha, len(raw)) is None, \
            f"message {sha[:12]} is gone from the server and its archive copy is bad"


def test_kill_9_at_random_points(make_box, tmp_path):
    require_dovecot()
    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    box = make_box(2 * 1024 * 1024)
    every: dict[str, bytes] = {}
    config = box_config(tmp_path, box, housekeeping={"retention": {"days": {"non-pec": 0}},
                                                     "batch_size": 3})
    toml = write_toml(tmp_path, config)
    store = Store.from_config(config)
    n = 0
    kills = 0
    trial = 0
    while kills < KILLS:
        trial += 1
        assert trial < 4 * KILLS, f"too few kills landed (seed {seed})"
        fresh = [message(n + i, 1200, tag="k") for i in range(rng.randrange(6, 14))]
        n += len(fresh)
        every.update({sha256_hex(r): r for r in fresh})
        box.append(fresh)
        Mailbox(config, config.account(), store).sync()
        # Damage the archive copy of a message still on the server (one already deleted
        # has only its archive copy: damaging that is not housekeeping's doing).
        on_server = sorted({sha256_hex(v[0]) for v in box.contents().values()})
        victim = rng.choice(on_server)
        if store.archive.path(victim).exists():
            if rng.random() < 0.5:
                store.archive.path(victim).write_bytes(b"corrupted by the test")
            else:
                store.archive.path(victim).unlink()
        limit, mode = rng.randrange(3, 30), rng.choice(["before", "after"])
        proc = subprocess.run([sys.executable, str(WRAPPER), str(limit), mode, "housekeep",
                               "-c", str(toml)], capture_output=True, timeout=300)
        if proc.returncode == -9:
            kills += 1
        else:
            assert proc.returncode == 0, proc.stderr.decode()
        _check_every_message(store, box, every)
    done = subprocess.run([sys.executable, "-m", "wpec_invoicing", "housekeep", "-c",
                           str(toml)], capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()
    done = subprocess.run([sys.executable, "-m", "wpec_invoicing", "housekeep", "--json", "-c",
                           str(toml)], capture_output=True, timeout=300)
    _check_every_message(store, box, every)
    with store.session() as s:
        assert not list(s.scalars(select(Deletion).where(Deletion.status == "pending")))
    assert box.contents() == {}, f"seed {seed}: the clean passes left mail on the server"
    for sha, raw in every.items():
        assert store.archive.get(sha) == raw


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__])
