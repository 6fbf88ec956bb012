"""Housekeeping of a 20,000-message box on a real Dovecot (quota plugin on), as a user runs it.

1. `wpec housekeep --dry-run --json` and then `wpec housekeep --json`, each a whole process:
   wall time (goal < 10 s each), its CPU time (user + system: what is ours, the rest is
   waiting for the server, the disk and the start-up's I/O) and IMAP round trips (commands
   sent; goal < 50), with half of the box past its retention (receipts archived 40 days ago,
   30-day policy).
2. Baseline in the same run: a second box filled the same way, emptied of the same 10,000
   UIDs by a bare imapclient process (`bench/hk_bare_client.py`: login, SELECT, UID STORE
   \\Deleted + UID EXPUNGE per batch, nothing else). Its time is the server's share of ours:
   ratio = ours / bare.
3. The archive re-hash rate (what a pass does before deleting anything: open, re-read and
   sha256 each blob) against `sha256sum` on the same files, in the same run, warm cache, best
   of three: ratio = ours / sha256sum (goal >= 0.8).

The mail server runs as a provider runs it: its store on this host's disk, `mail_fsync =
optimized` (Dovecot's default), and `--storage mdbox` (default; Dovecot's recommendation for
large installations: an expunge drops references in the map index and `doveadm purge` later
reclaims the space) or `maildir` (one file per message: each expunge is an unlink).
`--server-on-tmpfs` puts it in /dev/shm instead (the disk then leaves the picture).

Set-up (not timed): the messages are APPENDed with MULTIAPPEND (one command per 1,000), and the
store is filled as a sync would leave it (blobs archived, records processed, locations by UID).

    .venv/bin/python bench/housekeep.py [--messages 20000] [--storage mdbox|maildir]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import ssl
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402

from wpec_invoicing.housekeeping.verify import check_blobs  # noqa: E402
from wpec_invoicing.sandbox.ca import SandboxCA  # noqa: E402
from wpec_invoicing.sandbox.dovecot import DovecotServer, DovecotUser  # noqa: E402
from wpec_invoicing.store.db import Store  # noqa: E402
from wpec_invoicing.store.models import Message, MessageLocation  # noqa: E402

LOGIN, PASSWORD = "bench@pec.sandbox.test", "bench-pw"
BARE_LOGIN = "bare@pec.sandbox.test"
GOAL_SECONDS, GOAL_ROUND_TRIPS, GOAL_HASH_RATIO = 10.0, 50, 0.8


def _message(i: int) -> bytes:
    head = (f"From: sender{i % 97}@example.com\r\nTo: {LOGIN}\r\nSubject: ricevuta {i}\r\n"
            f"Message-ID: <bench{i}@example.com>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0100\r\n"
            "Content-Type: text/plain\r\n\r\n")
    return (head + f"{i} " + "x" * 70 + "\r\n" * 1 + ("y" * 76 + "\r\n") * 15).encode()


def _fill(port: int, ca: Path, raws: list[bytes], login: str = LOGIN) -> int:
    ctx = ssl.create_default_context(cafile=str(ca))
    with IMAPClient("127.0.0.1", port=port, ssl=True, ssl_context=ctx, timeout=300) as c:
        c.login(login, PASSWORD)
        for start in range(0, len(raws), 1000):
            c.multiappend("INBOX", raws[start:start + 1000])
        info = c.select_folder("INBOX", readonly=True)
        return int(info[b"UIDVALIDITY"])


def _store(work: Path, uidvalidity: int, raws: list[bytes]) -> Path:
    """The store a sync would leave: blobs archived, records processed, UIDs 1..N."""
    toml = work / "wpec.toml"
    store = Store(f"sqlite:///{work / 'data' / 'wpec.db'}", archive_dir=work / "data" / "archive")
    old = datetime.now(UTC) - timedelta(days=40)
    # Set-up only: blobs written without the archive's per-file fsync (20,000 fsyncs take
    # minutes on a shared disk), then everything flushed once and the disk left to settle, so
    # the measured runs do not pay for the set-up's write-back.
    from wpec_invoicing.store.archive import sha256_hex

    digests = []
    for raw in raws:
        digest = sha256_hex(raw)
        path = store.archive.path(digest)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
        digests.append(digest)
    with store.session() as s:
        for i, (raw, digest) in enumerate(zip(raws, digests, strict=True)):
            kind = "accettazione" if i % 2 == 0 else "sdi-invoice"
            msg = Message(sha256=digest, size=len(raw), status="processed", kind=kind,
                          message_id=f"<bench{i}@example.com>", first_seen_at=old,
                          source="imap")
            s.add(msg)
            s.flush()
            s.add(MessageLocation(message_id=msg.id, account="main", folder="INBOX",
                                  uidvalidity=uidvalidity, uid=i + 1))
    store.close()
    os.sync()
    time.sleep(2)
    return toml


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(toml: Path, *args: str) -> tuple[float, float, dict]:
    """(wall seconds, CPU seconds of the process, its JSON report)."""
    profile = os.environ.get("WPEC_BENCH_HK_PROFILE")  # a folder: cProfile each run there
    prof = ["-m", "cProfile", "-o", str(Path(profile) / f"housekeep{'-'.join(args)}.prof")] \
        if profile else []
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, *prof, "-m", "wpec_invoicing", "housekeep", *args,
                           "--json", "-c", str(toml)], capture_output=True, text=True,
                          timeout=600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"wpec housekeep {' '.join(args)} failed: {proc.stderr.strip()}")
    return elapsed, _cpu() - cpu, json.loads(proc.stdout)[0]


def _bare(port: int, ca: Path, uids: list[int], batch: int) -> tuple[float, float, dict]:
    """The bare client as a process (same start-up rules as ours): wall, CPU, its report."""
    cpu, start = _cpu(), time.perf_counter()
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "hk_bare_client.py"),
                           str(port), str(ca), BARE_LOGIN, str(batch)],
                          input=" ".join(map(str, uids)), capture_output=True, text=True,
                          timeout=600, check=True)
    return time.perf_counter() - start, _cpu() - cpu, json.loads(proc.stdout)


def _hash_rates(archive_dir: Path, digests: list[str]) -> tuple[float, float]:
    from wpec_invoicing.store.archive import Archive

    archive = Archive(archive_dir)
    items = [(d, None) for d in digests]
    paths = [str(archive.path(d)) for d in digests]
    ours, theirs = [], []
    for _ in range(3):
        start = time.perf_counter()
        for i in range(0, len(paths), 2000):  # one process per 2,000 files, like xargs
            subprocess.run(["sha256sum", "--", *paths[i:i + 2000]], check=True,
                           stdout=subprocess.DEVNULL)
        theirs.append(len(paths) / (time.perf_counter() - start))
        start = time.perf_counter()
        problems = check_blobs(archive, items)
        ours.append(len(paths) / (time.perf_counter() - start))
        assert not any(problems.values())
    return max(ours), max(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--storage", choices=("mdbox", "maildir", "sdbox"), default="mdbox",
                        help="Dovecot's mail storage format (default: mdbox).")
    parser.add_argument("--mail-fsync", choices=("optimized", "always", "never"),
                        default="optimized", help="Dovecot's mail_fsync (default: its own "
                                                  "default, optimized).")
    parser.add_argument("--server-on-tmpfs", action="store_true",
                        help="Keep Dovecot's mail in /dev/shm (default: on this disk).")
    args = parser.parse_args()
    raws = [_message(i) for i in range(args.messages)]
    with tempfile.TemporaryDirectory(prefix="wpec-bench-hk-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        ca = SandboxCA(work / "ca")
        ca.ensure()
        tls = ca.tls_server()
        quota = int(sum(len(r) for r in raws) * 1.15)
        shm = Path("/dev/shm")  # noqa: S108 (mkdtemp below: a private, unguessable folder)
        server_dir = Path(tempfile.mkdtemp(prefix="wpec-bench-dovecot-", dir=shm)) \
            if args.server_on_tmpfs else work / "dovecot"
        users = [DovecotUser(LOGIN, PASSWORD, quota), DovecotUser(BARE_LOGIN, PASSWORD, quota)]
        with DovecotServer(server_dir, users, cert_file=tls.cert_path, key_file=tls.key_path,
                           storage=args.storage, mail_fsync=args.mail_fsync) as dc:
            uidvalidity = _fill(dc.imaps_port, ca.ca_path, raws)
            _fill(dc.imaps_port, ca.ca_path, raws, BARE_LOGIN)
            toml = _store(work, uidvalidity, raws)
            os.environ["WPEC_BENCH_HK_PW"] = PASSWORD
            toml.write_text(f'''data_dir = "{work / 'data'}"
[[accounts]]
name = "main"
address = "{LOGIN}"
password_env = "WPEC_BENCH_HK_PW"
[accounts.imap]
host = "127.0.0.1"
port = {dc.imaps_port}
tls = "implicit"
ca_file = "{ca.ca_path}"
''', encoding="utf-8")
            dry_s, dry_cpu, dry = _run(toml, "--dry-run")
            real_s, real_cpu, real = _run(toml)
            uids = sorted(p["uid"] for p in real["deleted"])
            bare_s, bare_cpu, bare = _bare(dc.imaps_port, ca.ca_path, uids, 2000)
        if server_dir.parent == shm:
            import shutil

            shutil.rmtree(server_dir, ignore_errors=True)
        ours, theirs = _hash_rates(work / "data" / "archive",
                                   sorted({d["sha256"] for d in dry["deleted"]}))
    n = args.messages
    where = "tmpfs (/dev/shm)" if args.server_on_tmpfs else "this host's disk"
    print(f"mail server: Dovecot {args.storage}, mail_fsync = {args.mail_fsync}, on {where}")
    print(f"box: {n} messages, quota {quota} bytes, "
          f"{dry['quota_before']['percent']:.1f}% used; {len(dry['deleted'])} past retention")
    print(f"dry run : {dry_s:6.2f} s (CPU {dry_cpu:.2f} s; goal < {GOAL_SECONDS:g} s), "
          f"{dry['round_trips']} IMAP round trips (goal < {GOAL_ROUND_TRIPS}), would free "
          f"{dry['freed_bytes']} bytes; seconds by phase {dry['seconds']}")
    print(f"real run: {real_s:6.2f} s (CPU {real_cpu:.2f} s; goal < {GOAL_SECONDS:g} s), "
          f"{real['round_trips']} IMAP round trips, deleted {len(real['deleted'])}, quota "
          f"{real['quota_before']['percent']:.1f}% → {real['quota_after']['percent']:.1f}%; "
          f"seconds by phase {real['seconds']}")
    print(f"bare client, same UIDs on an identical box: {bare_s:6.2f} s (CPU {bare_cpu:.2f} s), "
          f"{bare['commands']} commands; ours / bare = {real_s / bare_s:.2f}")
    print(f"re-hash : {ours:,.0f} blobs/s vs sha256sum {theirs:,.0f} files/s: ratio "
          f"{ours / theirs:.2f} (goal >= {GOAL_HASH_RATIO})")
    assert len(real["deleted"]) == len(dry["deleted"]), "the real run did not do the plan"
    assert bare["deleted"] == len(uids)


if __name__ == "__main__":
    main()
