"""First sync of a big PEC box against a real Dovecot on loopback, as a user runs it.

For each box size (default 2,000 and 20,000 messages, a realistic PEC mix from the test
factory: SdI invoices in their envelopes with `_MT_`, acceptance and delivery receipts, SdI
notifications, anomalies, certified mail with a PDF, plain mail; each one unique):

- **ours**: `wpec sync --json` as a whole process (interpreter start-up, config, store
  migration, fetch, archive with fsync, commit, classification, rules, after-sync checks), in a
  fresh data directory (SQLite store, default rules);
- **baseline** (the fetch-and-inspect floor), in the same run on the same box, also a whole
  process: a bare stdlib `imaplib` client (TLS, LOGIN, SELECT, UID SEARCH, then UID FETCH
  BODY.PEEK[] in batches of 500 UIDs) plus `wpec_invoicing.pec.inspect` of every message (the
  PEC engine's parse: MIME, envelope, receipts, SdI payload), storing nothing, with no rules.
  It runs twice (before and after ours) and the faster run counts.

Printed: seconds and messages/s of each, ratio = ours / baseline in messages/s (goal >= 0.5),
the same ratio in CPU seconds (user + system of the whole process, every thread: on a machine
shared with other work the wall-clock baseline moves 2x between runs, CPU time much less), and
the peak RSS (ru_maxrss of the child) of ours at each size (goal: the largest within 1.5x of
the smallest).

Dovecot keeps its mail in /dev/shm (a provider's server is another machine; on this host's disk
Dovecot's own writes would compete with the archive's fsyncs); set-up (building and
MULTIAPPENDing the messages) is not timed.

    .venv/bin/python bench/first_sync.py [--messages 2000 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402

from wpec_invoicing.sandbox.ca import SandboxCA  # noqa: E402
from wpec_invoicing.sandbox.dovecot import DovecotServer, DovecotUser  # noqa: E402

GOAL_RATIO, GOAL_RSS = 0.5, 1.5
BASELINE_BATCH = 500


def baseline(port: int, ca: str, login: str, password: str) -> None:
    """The baseline's work (in a child process): bare imaplib fetch + `pec.inspect`."""
    import imaplib
    import re

    from wpec_invoicing.pec import inspect

    ctx = ssl.create_default_context(cafile=ca)
    imap = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
    imap.login(login, password)
    imap.select("INBOX", readonly=True)
    _typ, data = imap.uid("SEARCH", "ALL")
    uids = [int(u) for u in data[0].split()]
    seen = kinds = 0
    for start in range(0, len(uids), BASELINE_BATCH):
        chunk = uids[start:start + BASELINE_BATCH]
        _typ, data = imap.uid("FETCH", f"{chunk[0]}:{chunk[-1]}", "(BODY.PEEK[])")
        for item in data:
            if isinstance(item, tuple) and re.search(rb"BODY\[\]", item[0]):
                pec = inspect(item[1])
                seen += 1
                kinds += bool(pec.kind)
    imap.logout()
    print(json.dumps({"messages": seen, "inspected": kinds}))


def _measure(cmd: list[str], env: dict[str, str] | None = None
             ) -> tuple[float, int, float, str]:
    """Run a whole process: (wall seconds, its own peak RSS in bytes, its CPU seconds (user +
    system, all threads), stdout); wait4 on this child gives its own rusage."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out_path_r, err_path_r = proc.stdout, proc.stderr
    # Drain the pipes in threads so the child never blocks, then reap it ourselves.
    import threading

    chunks: dict[str, bytes] = {}

    def drain(name: str, pipe) -> None:
        chunks[name] = pipe.read()

    readers = [threading.Thread(target=drain, args=("out", out_path_r)),
               threading.Thread(target=drain, args=("err", err_path_r))]
    for t in readers:
        t.start()
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    for t in readers:
        t.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:5])}… failed ({proc.returncode}): "
                         f"{chunks.get('err', b'').decode()[-3000:]}")
    return (elapsed, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime,
            chunks.get("out", b"").decode())


def _fill(port: int, ca: Path, login: str, password: str, count: int) -> int:
    """Build `count` unique messages (in slices, never all in memory) and MULTIAPPEND them."""
    from tests.integration.ingest.factory import Factory

    factory = Factory()
    ctx = ssl.create_default_context(cafile=str(ca))
    total = 0
    with IMAPClient("127.0.0.1", port=port, ssl=True, ssl_context=ctx, timeout=600) as c:
        c.login(login, password)
        done = 0
        while done < count:
            n = min(700, count - done)
            raws = factory.mixed(n)
            total += sum(len(r) for r in raws)
            c.multiappend("INBOX", raws)
            done += n
    return total


def _toml(work: Path, port: int, ca: Path, login: str, env: str) -> Path:
    toml = work / "wpec.toml"
    toml.write_text(f'''data_dir = "{work / 'data'}"
[company]
vat = "IT01234567897"
[[accounts]]
name = "main"
address = "{login}"
password_env = "{env}"
[accounts.imap]
host = "127.0.0.1"
port = {port}
tls = "implicit"
ca_file = "{ca}"
''', encoding="utf-8")
    return toml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--baseline", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.baseline:
        baseline(int(args.baseline[0]), *args.baseline[1:])
        return
    from tests.integration.ingest.factory import COMPANY_VAT

    tmp = Path(tempfile.mkdtemp(prefix="wpec-bench-first-"))
    shm = Path("/dev/shm")  # noqa: S108 (mkdtemp: a private, unguessable folder)
    server_dir = Path(tempfile.mkdtemp(prefix="wpec-bench-dovecot-", dir=shm)) \
        if shm.is_dir() else tmp / "dovecot"
    users = {f"box{n}@pec.sandbox.test": f"pw-{n}" for n in args.messages}
    rows = []
    try:
        ca = SandboxCA(tmp / "ca")
        ca.ensure()
        tls = ca.tls_server()
        with DovecotServer(server_dir, [DovecotUser(u, p) for u, p in users.items()],
                           cert_file=tls.cert_path, key_file=tls.key_path) as dc:
            port = dc.imaps_port
            for n in args.messages:
                login = f"box{n}@pec.sandbox.test"
                print(f"building and appending {n} messages…", file=sys.stderr)
                size = _fill(port, ca.ca_path, login, users[login], n)
                base_cmd = [sys.executable, __file__, "--baseline", str(port),
                            str(ca.ca_path), login, users[login]]
                b1_s, b_rss, b1_cpu, out = _measure(base_cmd)
                assert json.loads(out)["messages"] == n, out
                work = tmp / f"work{n}"
                work.mkdir()
                env = dict(os.environ, WPEC_BENCH_FIRST_PW=users[login])
                toml = _toml(work, port, ca.ca_path, login, "WPEC_BENCH_FIRST_PW")
                text = toml.read_text().replace("IT01234567897", COMPANY_VAT)
                toml.write_text(text)
                ours_s, ours_rss, ours_cpu, out = _measure(
                    [sys.executable, "-m", "wpec_invoicing", "sync", "--json", "-c", str(toml)],
                    env)
                report = json.loads(out)
                report = report[0] if isinstance(report, list) else report
                assert report["archived"] == n and report["errors"] == 0, report
                b2_s, _rss, b2_cpu, _out = _measure(base_cmd)
                rows.append((n, size, ours_s, ours_rss, ours_cpu, min(b1_s, b2_s), b_rss,
                             min(b1_cpu, b2_cpu), (b1_s, b2_s)))
                # The data is deleted at the end, not here: on ext4 without a journal (these
                # machines' disks) every file created in the next minutes skips the inodes
                # just freed one by one ("recently deleted"), which made the next size's
                # sync spend seconds of system time that a user's first sync never does.
    finally:
        shutil.rmtree(server_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    mb = 1024 * 1024
    for n, size, ours_s, ours_rss, ours_cpu, base_s, b_rss, base_cpu, runs in rows:
        print(f"{n:>6} messages ({size / mb:.0f} MB)")
        print(f"  ours     (wpec sync):           {ours_s:7.2f} s  {n / ours_s:6.0f} msg/s  "
              f"CPU {ours_cpu:7.2f} s  peak RSS {ours_rss / mb:4.0f} MB")
        print(f"  baseline (imaplib + inspect):   {base_s:7.2f} s  {n / base_s:6.0f} msg/s  "
              f"CPU {base_cpu:7.2f} s  peak RSS {b_rss / mb:4.0f} MB  "
              f"(runs {runs[0]:.2f} s, {runs[1]:.2f} s)")
        print(f"  ratio ours/baseline: {base_s / ours_s:.2f} wall (goal >= {GOAL_RATIO}), "
              f"{base_cpu / ours_cpu:.2f} in CPU seconds (what the load of a shared machine "
              "moves least)")
    if len(rows) > 1:
        small, large = rows[0], rows[-1]
        print(f"peak RSS of ours at {large[0]} vs {small[0]} messages: "
              f"{large[3] / mb:.0f} / {small[3] / mb:.0f} MB = {large[3] / small[3]:.2f}x "
              f"(goal <= {GOAL_RSS}x)")


if __name__ == "__main__":
    main()
