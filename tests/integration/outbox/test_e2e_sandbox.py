"""End to end against the sandbox: the outbox under throttling, a temporary block, a dropped
connection and three real SIGKILLs of `wpec outbox run`, then the sync following every
receipt. Every message must reach its recipient exactly once: counted on the wire's own
evidence (acceptance receipts in the sender's box, envelopes in the recipients' boxes).
"""

from __future__ import annotations

import collections
import email
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import delete, select

from tests.integration.outbox.helpers import sync_until
from wpec_invoicing.config import load_config
from wpec_invoicing.mailbox.sync import Mailbox
from wpec_invoicing.outbox.queue import Outbox
from wpec_invoicing.store.jobs_models import OutboxRateState
from wpec_invoicing.store.outbox_models import OutboxEvent, OutboxItem

SENDER = "azienda@pec.sandbox.test"
RECIPIENTS = ["cliente@pec.sandbox.test", "fornitore@pec.sandbox.test",
              "comune@pec.sandbox.test"]
MESSAGES = 24


def write_config(sb, tmp_path: Path, *, rate: float, burst: int, concurrency: int = 2) -> Path:
    path = sb.write_config(tmp_path / "wpec.toml", limits={
        "messages_per_minute": rate, "burst": burst, "concurrency": concurrency,
        "max_message_mb": 30})
    with path.open("a") as fh:
        fh.write("\n[outbox]\nverify_after_seconds = 1\nverify_window_seconds = 3\n"
                 "retry_base_seconds = 0.3\n"
                 "retry_cap_seconds = 3\nblock_pause_seconds = 1.5\nidle_poll_seconds = 0.2\n"
                 "stale_claim_seconds = 30\n")
    return path


def header_counts(raws: list[bytes], header: str) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for raw in raws:
        msg = email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
        value = msg.get(header)
        if value:
            counts[value.strip()] += 1
    return counts


def kinds(raws: list[bytes]) -> collections.Counter:
    return header_counts(raws, "X-Ricevuta")


def wpec(config: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "wpec_invoicing", *args, "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **(env or {})})


def killed_run(config: Path, mode: str, n: int) -> subprocess.Popen:
    """`wpec outbox run --until-empty`, SIGKILLed at an exact point (see killwrap.py)."""
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("killwrap.py")), mode, str(n),
         "outbox", "run", "--until-empty", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_every_message_exactly_once_through_throttling_blocks_drops_and_kills(any_sandbox,
                                                                              tmp_path):
    sb = any_sandbox
    config_path = write_config(sb, tmp_path, rate=240, burst=4)
    config = load_config(config_path)
    outbox = Outbox(config)
    prepared = [outbox.prepare_mail(RECIPIENTS[i % 3], f"Comunicazione {i:03d}",
                                    f"Gentile cliente, messaggio numero {i}.\n",
                                    [(f"doc-{i:03d}.txt", f"documento {i}\n".encode())])
                for i in range(MESSAGES)]
    queued = outbox.enqueue(prepared)
    ids = {q.message_id for q in queued}
    assert len(ids) == MESSAGES

    throttle = sb.provider.throttle

    def phase(style: str, mode: str, n: int) -> int:
        """One `wpec outbox run` under the provider's `style` of refusal, SIGKILLed at the
        `mode` point of its n-th submission; returns the provider's refusals meanwhile."""
        # A temporary block of the previous phase may still hold our address for a moment:
        # its 421s at connect are not refusals of this style, and would use up the n calls.
        deadline = time.monotonic() + 30
        while throttle.blocked("127.0.0.1") and time.monotonic() < deadline:
            time.sleep(0.05)
        before = throttle.refusals
        # The account's limiter remembers what the provider allowed, across runs (its state
        # is in the store, shared by every worker): forget it, so each phase starts at the
        # configured ceiling like a fresh deployment and certainly meets the refusal.
        with outbox.store.session() as s:
            s.execute(delete(OutboxRateState))
        # Two at once, then one every 3 s: our limiter (4/s) certainly meets the refusal.
        sb.set_throttle(SENDER, messages_per_minute=20, burst=2, style=style, block_seconds=1)
        p = killed_run(config_path, mode, n)
        assert p.wait(timeout=90) == -signal.SIGKILL, p.stderr.read().decode()
        return throttle.refusals - before

    # Kill 1 (451s): right after the provider's 250, before we record it.
    assert phase("451", "after", 3) > 0, "no 451 was met"
    # Kill 2 (Aruba-style temporary block + one connection dropped mid-DATA): again after a 250.
    sb.drop_next_data()
    assert phase("block", "after", 3) > 0, "no temporary block was met"
    assert len(sb.provider.events_of("dropped")) == 1, "the connection was not dropped"
    # Kill 3 (Legalmail's 550 "Class Of Service"): claimed and committed, killed before the
    # SMTP call: recovery must find nothing and send it (once) after its empty looks.
    assert phase("550", "before", 4) > 0, "no 550 was met"
    sb.set_throttle(SENDER, messages_per_minute=120, burst=2, style="550")

    # The last run finishes the job.
    p = wpec(config_path, "outbox", "run", "--until-empty", "--json")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err.decode()
    assert json.loads(out)["run"]["remaining"] == 0
    assert sb.provider.throttle.refusals > 0  # throttling really happened

    # The wire's evidence: one acceptance per message, one envelope in the recipient's box.
    sb.wait_idle(10)
    sender_box = sb.fetch(SENDER)
    accepted = header_counts([r for r in sender_box if b"X-Ricevuta: accettazione" in r],
                             "X-Riferimento-Message-ID")
    assert set(accepted) == ids
    assert set(accepted.values()) == {1}, "a message was accepted twice"
    delivered = collections.Counter()
    for rcpt in RECIPIENTS:
        delivered.update(header_counts(sb.fetch(rcpt), "X-Riferimento-Message-ID"))
    assert set(delivered) == ids
    assert set(delivered.values()) == {1}, "a recipient got a message twice"

    # The sync brings the receipts in: every item ends delivered, with the crash visible.
    def states_now() -> collections.Counter:
        with outbox.store.session() as s:
            return collections.Counter(s.scalars(select(OutboxItem.provider_state)))

    sync_until(Mailbox(config, config.account(), outbox.store).sync,
               lambda: states_now() == {"delivered": MESSAGES}, what="every consegna")
    with outbox.store.session() as s:
        states = states_now()
        events = collections.Counter(s.scalars(select(OutboxEvent.event)))
    assert states == {"delivered": MESSAGES}
    assert events["orphaned"] >= 3  # each kill left one in flight: recovered from receipts
    assert events["requeued"] >= 1  # kill 3's claimed-but-unsent one: resent after the looks
    assert events["uncertain"] == 1  # the dropped connection: decided by the receipts
    assert events["throttled"] + events["blocked"] >= 1
    assert events["sent"] == MESSAGES
    outbox.close()


def test_two_runs_at_once_never_send_the_same_message(sandbox, tmp_path):
    """Two `wpec outbox run` processes on one store (an operator starting a second one, or
    cron overlapping): claims are atomic, so each message still goes out exactly once."""
    sb = sandbox
    config_path = write_config(sb, tmp_path, rate=600, burst=10)
    outbox = Outbox(load_config(config_path))
    queued = outbox.enqueue([outbox.prepare_mail(RECIPIENTS[i % 3], f"Doppio {i}", "x")
                             for i in range(20)])
    runs = [wpec(config_path, "outbox", "run", "--until-empty", "--json") for _ in range(2)]
    results = [json.loads(p.communicate(timeout=60)[0])["run"] for p in runs]
    assert sum(r["sent"] for r in results) == 20
    sb.wait_idle(5)
    accepted = header_counts([r for r in sb.fetch(SENDER) if b"X-Ricevuta: accettazione" in r],
                             "X-Riferimento-Message-ID")
    assert set(accepted) == {q.message_id for q in queued}
    assert set(accepted.values()) == {1}
    outbox.close()
