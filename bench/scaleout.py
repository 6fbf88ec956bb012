"""Scale-out of the sync over job-queue workers: many PEC boxes, 1, 2 and 4 `wpec worker`
processes on one PostgreSQL store, timed as an operator meets it.

A sandbox (Dovecot as IMAP server) gets ACCOUNTS boxes of MESSAGES messages each. For each
number of workers, on a fresh database: the workers are started (whole processes, sync
queue on a one-second schedule), and the clock runs until every message of every box is
archived and processed. Reported: total seconds, messages/s, speed-up against 1 worker
measured in the same run, and each worker's CPU seconds (user+system, from /proc). As a
reference, the embedded default on the same boxes: one `wpec sync` process over every
account, SQLite.

This machine has 2 cores shared with the sandbox's Dovecot, PostgreSQL and this script: the
speed-up shows how the work spreads, not what more machines would give.

    .venv/bin/python bench/scaleout.py [--accounts 200] [--messages 50] [--workers 1,2,4]
                                       [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.integration.jobs import harness as h  # noqa: E402
from tests.unit.store.postgres import PostgresCluster  # noqa: E402
from wpec_invoicing.sandbox import Sandbox  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def fill(sb, boxes: list[str], per_box: int) -> None:
    for address in boxes:
        h.append(sb, address, [h.plain_message(address, n, "bench") for n in range(per_box)])


def processed(url: str) -> int:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn) as conn:
            return conn.execute("SELECT count(*) FROM messages WHERE processed_at IS NOT NULL"
                                ).fetchone()[0]
    except psycopg.Error:  # not migrated yet: the first worker does it
        return 0


def run_workers(sb, cluster, boxes, n: int, concurrency: int, total: int, work: Path) -> dict:
    url = cluster.new_database()
    config = h.write_config(sb, work / f"w{n}" / "wpec.toml", url, boxes, jobs={
        "sync_cron": "* * * * * *", "send_cron": "", "housekeep_cron": "",
        "lifecycle_cron": "", "exports_cron": ""})
    from wpec_invoicing.store.db import upgrade

    upgrade(url)  # the schema first: migration time is not sync time
    started = time.perf_counter()
    workers = [h.start_worker(config, concurrency=concurrency, queues="sync,schedule",
                              log=work / f"w{n}" / "workers.log") for _ in range(n)]
    try:
        while processed(url) < total:
            if any(p.poll() is not None for p in workers):
                raise SystemExit(f"a worker died: see {work / f'w{n}' / 'workers.log'}")
            time.sleep(0.25)
        seconds = time.perf_counter() - started
        cpu = [round(cpu_seconds(p.pid), 1) for p in workers]
    finally:
        for p in workers:
            p.send_signal(signal.SIGTERM)
        for p in workers:
            p.wait(timeout=120)
    return {"workers": n, "seconds": seconds, "cpu": cpu}


def run_embedded(sb, boxes, work: Path) -> float:
    """`wpec sync` over every account, SQLite, one process (the embedded default)."""
    config = h.write_config(sb, work / "embedded" / "wpec.toml",
                            f"sqlite:///{work / 'embedded' / 'wpec.db'}", boxes)
    subprocess.run([sys.executable, "-m", "wpec_invoicing", "db", "upgrade", "--config",
                    str(config)], check=True, capture_output=True)
    started = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "wpec_invoicing", "sync", "--config",
                        str(config)], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if p.returncode != 0:
        raise SystemExit(f"wpec sync failed: {p.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=200)
    ap.add_argument("--messages", type=int, default=50)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--no-embedded", action="store_true")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    with tempfile.TemporaryDirectory(prefix="wpec-scaleout-") as tmp:
        work = Path(tmp)
        cluster = PostgresCluster()
        try:
            with Sandbox(work / "sandbox", imap="dovecot") as sb:
                boxes = h.add_boxes(sb, args.accounts)
                t0 = time.perf_counter()
                fill(sb, boxes, args.messages)
                # The sender's box is synced too: it is empty here.
                total = args.accounts * args.messages
                print(f"{args.accounts} boxes x {args.messages} messages = {total} appended "
                      f"in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
                rows = []
                for n in counts:
                    row = run_workers(sb, cluster, boxes, n, args.concurrency, total, work)
                    rows.append(row)
                    print(f"{n} worker(s): {row['seconds']:.1f} s", file=sys.stderr)
                embedded = None if args.no_embedded else run_embedded(sb, boxes, work)
        finally:
            cluster.stop()
    base = rows[0]["seconds"]
    print(f"scale-out sync: {args.accounts} boxes x {args.messages} messages ({total}), "
          f"workers with --concurrency {args.concurrency}, PostgreSQL store")
    print(f"{'workers':>7} {'seconds':>8} {'msg/s':>7} {'speed-up':>8}  CPU s per worker")
    for r in rows:
        print(f"{r['workers']:>7} {r['seconds']:>8.1f} {total / r['seconds']:>7.0f} "
              f"{base / r['seconds']:>8.2f}  {', '.join(str(c) for c in r['cpu'])}")
    if embedded is not None:
        print(f"reference: embedded `wpec sync` (one process, SQLite): {embedded:.1f} s, "
              f"{total / embedded:.0f} msg/s; 1 worker / embedded = {embedded / base:.2f}")
    first_sync = Path(__file__).with_name("first_sync.py")
    if first_sync.exists():  # the other half of issue 17's benchmark
        subprocess.run([sys.executable, str(first_sync)], check=False)


if __name__ == "__main__":
    main()
