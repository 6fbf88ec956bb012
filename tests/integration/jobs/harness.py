"""A deployment in miniature for the job-queue tests and bench/scaleout.py: a sandbox with
many PEC boxes, a store on a fresh PostgreSQL database, a wpec.toml naming every box, and
`wpec worker` processes started (and SIGKILLed) like an operator would.

Workers may run under `jobkill.py`, which SIGKILLs the process at a chosen point of a job
(mid-sync, mid-send, mid-housekeeping): the one way to land a real kill -9 inside a job.
"""

from __future__ import annotations

import email.utils
import os
import subprocess
import sys
import time
from pathlib import Path

from wpec_invoicing.sandbox import COMPANY

HERE = Path(__file__).resolve().parent
SENDER = COMPANY["address"]

FAST_JOBS = {
    "sync_cron": "* * * * * */2",  # every 2 s
    "send_cron": "* * * * * */2",
    "housekeep_cron": "* * * * * */10",
    "exports_cron": "",
    "lifecycle_cron": "* * * * * */10",
    "stalled_check_cron": "* * * * * *",
    "heartbeat_seconds": 1,
    "stalled_after_seconds": 4,
    "retry_base_seconds": 1,
    "retry_cap_seconds": 4,
    "max_attempts": 50,
    "send_max_seconds": 20,
    "shutdown_seconds": 5,
    "alert_after_failures": 2,
}
FAST_OUTBOX = {"verify_after_seconds": 1, "verify_window_seconds": 3, "retry_base_seconds": 0.3,
               "retry_cap_seconds": 3, "block_pause_seconds": 1.5, "idle_poll_seconds": 0.2,
               "stale_claim_seconds": 30}


def box(i: int) -> str:
    return f"box{i:03d}@pec.sandbox.test"


QUOTA = 200 * 1024 * 1024


def add_boxes(sb, n: int) -> list[str]:
    """`n` new boxes on the sandbox (and the sender's), each with a quota the housekeeping
    reads: their addresses."""
    out = []
    for i in range(n):
        sb.add_account(box(i), quota_bytes=QUOTA)
        out.append(box(i))
    sb.set_quota(SENDER, QUOTA)
    return out


def write_config(sb, path: Path, store_url: str, addresses: list[str], *,
                 jobs: dict | None = None, limits: dict | None = None,
                 imap_overrides: dict[str, dict] | None = None,
                 housekeeping: dict | None = None) -> Path:
    """A wpec.toml with one account per address (the first named `main`, SENDER) on the
    store `store_url`."""
    import tomli_w

    base = path.parent
    base.mkdir(parents=True, exist_ok=True)
    ca = os.path.relpath(sb.ca_path, base)
    accounts = []
    for address in [SENDER, *addresses]:
        name = "main" if address == SENDER else address.split("@")[0]
        imap = {"host": sb.host, "port": sb.imap_port, "tls": "implicit", "ca_file": ca,
                "timeout_seconds": 5}
        imap.update((imap_overrides or {}).get(address, {}))
        accounts.append({
            "name": name, "address": address, "username": address,
            "password_file": os.path.relpath(sb.password_file(address), base),
            "imap": imap,
            "smtp": {"host": sb.host, "port": sb.smtp_implicit_port, "tls": "implicit",
                     "ca_file": ca, "timeout_seconds": 10},
            "limits": limits or {"messages_per_minute": 600, "burst": 10, "concurrency": 2,
                                 "max_message_mb": 30},
        })
    doc = {
        "data_dir": "wpec-data",
        "store_url": store_url,
        "trust_store": ca,
        "company": {k: COMPANY[k] for k in ("name", "vat", "fiscal_code")},
        "accounts": accounts,
        "outbox": FAST_OUTBOX,
        "jobs": {**FAST_JOBS, **(jobs or {})},
    }
    if housekeeping:
        doc["housekeeping"] = housekeeping
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
    return path


def plain_message(to: str, n: int, tag: str = "t") -> bytes:
    """An ordinary (non-PEC) message, unique by its Message-ID."""
    mid = f"<{tag}-{n}-{to.split('@')[0]}@example.test>"
    return (f"From: Mittente <mittente@example.test>\r\nTo: {to}\r\n"
            f"Subject: Messaggio {tag} {n}\r\nMessage-ID: {mid}\r\n"
            f"Date: {email.utils.formatdate()}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Corpo del messaggio {n} per {to}.\r\n").encode()


def append(sb, address: str, messages: list[bytes]) -> None:
    """Put messages in a box's INBOX with a real IMAP client (mail arriving)."""
    from imapclient import IMAPClient

    with IMAPClient(sb.host, port=sb.imap_port, ssl_context=sb.ssl_context(),
                    timeout=30) as client:
        client.login(address, sb.accounts[address.lower()])
        for raw in messages:
            client.append("INBOX", raw)


def start_worker(config: Path, *, concurrency: int = 3, kill_at: str | None = None,
                 log: Path | None = None, queues: str | None = None) -> subprocess.Popen:
    """`wpec worker` as its own process; with `kill_at` ("send:3", "sync:5",
    "housekeep:1") it SIGKILLs itself at that call (see jobkill.py)."""
    args = ["worker", "--concurrency", str(concurrency), "--config", str(config)]
    if queues:
        args += ["--queues", queues]
    argv = ([sys.executable, str(HERE / "jobkill.py"), kill_at, *args] if kill_at
            else [sys.executable, "-m", "wpec_invoicing", *args])
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 (the child owns it)
    return subprocess.Popen(argv, stdout=out, stderr=out, cwd=config.parent)


def stop_workers(workers: list[subprocess.Popen], timeout: float = 30) -> None:
    import signal

    for p in workers:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for p in workers:
        try:
            p.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_for(predicate, *, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)
