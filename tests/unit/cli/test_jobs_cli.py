"""`wpec worker` and `wpec jobs` refuse what cannot work with one clear line and exit 2:
no PostgreSQL store, an unknown queue, a cron line that is not one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def wpec(tmp_path: Path, toml: str, *args: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "wpec.toml"
    config.write_text(toml, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "wpec_invoicing", *args, "--config",
                           str(config)], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)


def test_the_queue_needs_postgresql(tmp_path):
    for args in (["jobs"], ["worker"], ["jobs", "retry", "3"]):
        p = wpec(tmp_path, 'data_dir = "data"\n', *args)
        assert p.returncode == 2, p.stderr
        assert "needs PostgreSQL" in p.stderr and "wpec outbox run" in p.stderr
        assert "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def test_an_unknown_queue_is_named(tmp_path):
    p = wpec(tmp_path, 'data_dir = "data"\n', "worker", "--queues", "sync,nope")
    assert p.returncode == 2
    assert "nope" in p.stderr and "Traceback" not in p.stderr


def test_a_bad_cron_line_names_its_key(tmp_path):
    p = wpec(tmp_path, 'data_dir = "data"\n[jobs]\nsync_cron = "every minute"\n', "jobs")
    assert p.returncode == 2
    assert "sync_cron" in p.stderr and "not a cron line" in p.stderr
