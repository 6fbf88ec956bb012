"""IMAP sync against a real Dovecot on loopback.

1. First sync of 2,000 mixed messages (SdI invoices, receipts, SdI notifications, anomalies,
   certified mail, plain mail): messages per second, against a baseline measured in the same
   run on the same mailbox — a bare imapclient fetch of every body (BODY.PEEK[], batches of
   100) that stores nothing and parses nothing. Ratio = ours / baseline.
2. Second sync with nothing new: wall time and bodies fetched (must be 0).
3. Peak memory while syncing one 50 MB message (a fresh process; peak RSS growth during the
   sync, compared with the message size).

    .venv/bin/python bench/imap_sync.py [--messages 2000] [--big-mb 50]
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from imapclient import IMAPClient  # noqa: E402

from tests.integration.ingest.factory import Factory  # noqa: E402
from wpec_invoicing.config import config_from_dict  # noqa: E402
from wpec_invoicing.mailbox.sync import Mailbox  # noqa: E402
from wpec_invoicing.sandbox.ca import SandboxCA  # noqa: E402
from wpec_invoicing.sandbox.dovecot import DovecotServer, DovecotUser  # noqa: E402
from wpec_invoicing.startup import start  # noqa: E402
from wpec_invoicing.store.db import Store  # noqa: E402

start()  # as `wpec sync` runs: with the outbox's observer registered

USERS = {"bench@pec.sandbox.test": "bench-pw", "big@pec.sandbox.test": "big-pw"}


def _client(port: int, ca: Path, login: str) -> IMAPClient:
    client = IMAPClient("127.0.0.1", port=port, ssl=True,
                        ssl_context=ssl.create_default_context(cafile=str(ca)), timeout=120)
    client.login(login, USERS[login])
    return client


def _config(work: Path, port: int, ca: Path, login: str):
    os.environ["WPEC_BENCH_PW"] = USERS[login]
    return config_from_dict({
        "data_dir": str(work / "data"),
        "company": {"vat": "IT12345678903"},
        "accounts": [{"name": "bench", "address": login, "password_env": "WPEC_BENCH_PW",
                      "imap": {"host": "127.0.0.1", "port": port, "ca_file": str(ca)}}],
    }, base=work)


def baseline_fetch(port: int, ca: Path, login: str) -> tuple[float, int]:
    start = time.perf_counter()
    with _client(port, ca, login) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        total = 0
        for i in range(0, len(uids), 100):
            for data in client.fetch(uids[i:i + 100], ["BODY.PEEK[]"]).values():
                total += len(data[b"BODY[]"])
    return time.perf_counter() - start, len(uids)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def inspect_baseline(port: int, ca: Path, login: str) -> float:
    """The same fetch plus the PEC engine's `inspect` of every message (no store, no rules):
    the format work the sync cannot avoid."""
    from wpec_invoicing.pec import inspect

    start = time.perf_counter()
    with _client(port, ca, login) as client:
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        for i in range(0, len(uids), 100):
            for data in client.fetch(uids[i:i + 100], ["BODY.PEEK[]"]).values():
                inspect(data[b"BODY[]"])
    return time.perf_counter() - start


def big_child(port: int, ca: str, work: str) -> None:
    """Runs in a fresh process: sync the one big message, report peak RSS growth (the peak
    counter is reset just before the sync, so start-up and imports do not count)."""
    import gc

    config = _config(Path(work), port, Path(ca), "big@pec.sandbox.test")
    store = Store.from_config(config)
    phases: dict[str, int] = {}

    def fetched(**_info: object) -> None:  # after the archive commit: fetch phase is over
        phases["fetch_peak"] = _status_kb("VmHWM") * 1024
        Path("/proc/self/clear_refs").write_text("5")

    box = Mailbox(config, config.account(), store, hooks={"committed": fetched})
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kb("VmRSS") * 1024
    start = time.perf_counter()
    result = box.sync()
    elapsed = time.perf_counter() - start
    peak = _status_kb("VmHWM") * 1024
    print(json.dumps({"before": before, "peak": max(peak, phases.get("fetch_peak", 0)),
                      "fetch_peak": phases.get("fetch_peak", 0), "process_peak": peak,
                      "seconds": elapsed,
                      "archived": result.archived, "errors": result.errors}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--big-mb", type=int, default=50)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        big_child(int(args.child[0]), args.child[1], args.child[2])
        return

    tmp = Path(tempfile.mkdtemp(prefix="wpec-bench-sync-"))
    ca = SandboxCA(tmp / "ca")
    ca.ensure()
    tls = ca.tls_server()
    server = DovecotServer(tmp / "dovecot", [DovecotUser(n, p) for n, p in USERS.items()],
                           cert_file=tls.cert_path, key_file=tls.key_path)
    with server:
        port = server.imaps_port
        factory = Factory()
        print(f"building and appending {args.messages} mixed messages…", file=sys.stderr)
        messages = factory.mixed(args.messages)
        size = sum(len(m) for m in messages)
        with _client(port, ca.ca_path, "bench@pec.sandbox.test") as client:
            for m in messages:
                client.append("INBOX", m)

        base_s, n = baseline_fetch(port, ca.ca_path, "bench@pec.sandbox.test")
        inspect_s = inspect_baseline(port, ca.ca_path, "bench@pec.sandbox.test")
        config = _config(tmp / "work", port, ca.ca_path, "bench@pec.sandbox.test")
        store = Store.from_config(config)
        start = time.perf_counter()
        first = Mailbox(config, config.account(), store).sync()
        first_s = time.perf_counter() - start
        assert first.archived == n and first.errors == 0, first.to_json()
        start = time.perf_counter()
        second = Mailbox(config, config.account(), store).sync()
        second_s = time.perf_counter() - start
        store.close()

        big = factory.original(subject="big", attachments=[
            ("big.pdf", "application/pdf", b"%PDF-1.4\n" + os.urandom(
                args.big_mb * 1024 * 1024 * 3 // 4))])
        with _client(port, ca.ca_path, "big@pec.sandbox.test") as client:
            client.append("INBOX", big)
        out = subprocess.run([sys.executable, __file__, "--child", str(port), str(ca.ca_path),
                              str(tmp / "big")], capture_output=True, text=True, check=True)
        mem = json.loads(out.stdout.strip().splitlines()[-1])

    mb = 1024 * 1024
    ours = n / first_s
    base = n / base_s
    growth = (mem["peak"] - mem["before"]) / mb
    print(f"messages: {n} mixed, {size / mb:.1f} MB")
    print(f"first sync:  {first_s:7.2f} s  {ours:8.1f} msg/s (archive + classify + rules + "
          "commit)")
    print(f"baseline:    {base_s:7.2f} s  {base:8.1f} msg/s (bare imapclient fetch)")
    print(f"ratio ours/baseline: {ours / base:.3f}")
    print(f"baseline 2:  {inspect_s:7.2f} s  {n / inspect_s:8.1f} msg/s (fetch + pec.inspect, "
          "no store)")
    print(f"ratio ours/baseline 2: {ours / (n / inspect_s):.2f}")
    print(f"second sync: {second_s:7.3f} s, bodies fetched: {second.bodies_fetched}")
    print(f"one {len(big) / mb:.0f} MB message: synced in {mem['seconds']:.2f} s, peak RSS "
          f"growth {growth:.0f} MB ({growth / (len(big) / mb):.1f}x the message), "
          f"errors {mem['errors']}")
    print(f"  of which fetch + archive (ranged fetch): "
          f"{(mem['fetch_peak'] - mem['before']) / mb:.0f} MB; classify + rules: "
          f"{(mem['process_peak'] - mem['before']) / mb:.0f} MB")
    if second.bodies_fetched != 0:
        sys.exit("second sync fetched bodies")


if __name__ == "__main__":
    main()
