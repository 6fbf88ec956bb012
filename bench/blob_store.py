"""The PostgreSQL archive backend: `wpec archive migrate` and verification, against bare
baselines measured in the same run.

1. Moving 20,000 message-sized blobs (0.5-8 KB) and 8 big ones (3 MB: 1 MiB chunk rows) from
   the filesystem archive into PostgreSQL with `wpec archive migrate --to postgresql --json`, a
   whole process (it re-hashes each blob before and, read back, after). Baseline: a bare
   psycopg COPY of the same bytes, read from the same files, into a table of the same shape in
   one transaction (no hashing, no verification): ratio = bare time / ours.
2. Re-hashing every blob from PostgreSQL (`PostgresArchive.check`, what `wpec archive verify`
   and housekeeping do) against `sha256sum` over the same files on disk (one process per 2,000
   files), warm cache, best of three: ratio = ours / sha256sum.
3. `get()` of one small blob (what the API's raw-message route does): median over 2,000.

The cluster is the tests' throwaway one (tests/unit/store/postgres.py): `fsync=off`, so the
figures measure our code and PostgreSQL's work, not this shared disk's flushes.

    .venv/bin/python bench/blob_store.py [--blobs 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.unit.store.postgres import PostgresCluster  # noqa: E402
from wpec_invoicing.store.archive import sha256_hex  # noqa: E402
from wpec_invoicing.store.db import Store  # noqa: E402


def _fill(root: Path, n: int) -> list[tuple[str, Path]]:
    rng = random.Random(17)
    out = []
    for i in range(n + 8):
        size = 3 << 20 if i >= n else rng.randint(500, 8000)
        data = rng.randbytes(size)
        digest = sha256_hex(data)
        path = root / digest[:2] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        out.append((digest, path))
    os.sync()
    return out


def _bare_copy(dsn: str, blobs: list[tuple[str, Path]]) -> float:
    import psycopg

    start = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE bare_blobs (sha256 varchar(64), seq int, data bytea, "
                    "PRIMARY KEY (sha256, seq))")
        cur.execute("ALTER TABLE bare_blobs ALTER COLUMN data SET STORAGE EXTERNAL")
        with cur.copy("COPY bare_blobs (sha256, seq, data) FROM STDIN") as copy:
            for digest, path in blobs:
                data = path.read_bytes()
                for seq, i in enumerate(range(0, max(len(data), 1), 1 << 20)):
                    copy.write_row((digest, seq, data[i:i + (1 << 20)]))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--blobs", type=int, default=20_000)
    args = parser.parse_args()
    cluster = PostgresCluster()
    try:
        with tempfile.TemporaryDirectory(prefix="wpec-bench-blob-", dir="/var/tmp") as tmp:
            work = Path(tmp)
            blobs = _fill(work / "data" / "archive", args.blobs)
            total = sum(p.stat().st_size for _d, p in blobs)
            url = cluster.new_database()
            Store(url).close()  # migrated before the timed run
            toml = work / "wpec.toml"
            toml.write_text(f'data_dir = "{work / "data"}"\nstore_url = "{url}"\n')
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "wpec_invoicing", "archive", "migrate",
                                   "--to", "postgresql", "--json", "-c", str(toml)],
                                  capture_output=True, text=True, timeout=1800)
            ours = time.perf_counter() - start
            if proc.returncode != 0:
                raise SystemExit(f"migrate failed: {proc.stderr.strip()}")
            report = json.loads(proc.stdout)
            assert report["ok"] and report["copied"] == len(blobs), report
            dsn = url.replace("postgresql+psycopg://", "postgresql://")
            bare = _bare_copy(dsn, blobs)

            store = Store(url, archive_backend="postgresql", migrate=False)
            items = [(d, None) for d, _p in blobs]
            paths = [str(p) for _d, p in blobs]
            mine, theirs = [], []
            for _ in range(3):
                t = time.perf_counter()
                for i in range(0, len(paths), 2000):
                    subprocess.run(["sha256sum", "--", *paths[i:i + 2000]], check=True,
                                   stdout=subprocess.DEVNULL)
                theirs.append(total / (time.perf_counter() - t))
                t = time.perf_counter()
                problems = store.archive.check(items)
                mine.append(total / (time.perf_counter() - t))
                assert not any(problems.values())
            small = [d for d, p in blobs[:2000]]
            lat = []
            for d in small:
                t = time.perf_counter()
                store.archive.get(d)
                lat.append(time.perf_counter() - t)
            store.close()
    finally:
        cluster.stop()
    mb = total / 1e6
    print(f"blobs: {len(blobs)} ({mb:.1f} MB; 8 of them 3 MB)")
    print(f"migrate to postgresql: {ours:.2f} s ({len(blobs) / ours:,.0f} blobs/s, "
          f"{mb / ours:.1f} MB/s) vs bare COPY {bare:.2f} s: ratio {bare / ours:.2f}")
    print(f"re-hash from postgresql: {max(mine) / 1e6:.1f} MB/s vs sha256sum on the files "
          f"{max(theirs) / 1e6:.1f} MB/s: ratio {max(mine) / max(theirs):.2f}")
    print(f"get() of a small blob: median {statistics.median(lat) * 1000:.2f} ms, "
          f"p95 {sorted(lat)[int(len(lat) * 0.95)] * 1000:.2f} ms")


if __name__ == "__main__":
    main()
