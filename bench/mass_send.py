"""Mass sending through a throttled sandbox provider: how close to the provider's limit?

    .venv/bin/python bench/mass_send.py [--messages 1000] [--rate 500] [--configured 1000]

The sandbox provider lets through `rate` messages per minute (token bucket, burst 5, `451`
past it). The product is configured for `configured` per minute (an operator's guess, by
default twice what the provider allows), so it must find the real limit by itself.
Baseline, computed for the same run: the provider's own minimum time, messages / rate.
Prints: completion time ÷ baseline (target ≤ 1.10) and duplicates (must be 0), counted on
the wire's evidence: acceptance receipts per Message-ID in the sender's box and transport
envelopes per Message-ID in the recipients' boxes.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

SENDER = "azienda@pec.sandbox.test"
RECIPIENTS = ["cliente@pec.sandbox.test", "fornitore@pec.sandbox.test",
              "comune@pec.sandbox.test"]


def count_refs(sb, address: str, *, receipt: str | None = None) -> collections.Counter:
    """Per X-Riferimento-Message-ID, how many messages in the box (headers only)."""
    from imapclient import IMAPClient

    counts: collections.Counter = collections.Counter()
    with IMAPClient(sb.host, port=sb.imap_port, ssl_context=sb.ssl_context(),
                    timeout=60) as client:
        client.login(address, sb.accounts[address])
        client.select_folder("INBOX", readonly=True)
        uids = client.search()
        for start in range(0, len(uids), 500):
            chunk = uids[start:start + 500]
            fetched = client.fetch(chunk, [
                b"BODY.PEEK[HEADER.FIELDS (X-RIFERIMENTO-MESSAGE-ID X-RICEVUTA)]"])
            for data in fetched.values():
                header = next((v for k, v in data.items() if k.startswith(b"BODY")), b"")
                fields = {}
                for line in (header or b"").decode("ascii", "replace").splitlines():
                    name, _, value = line.partition(":")
                    fields[name.strip().lower()] = value.strip()
                if receipt is not None and fields.get("x-ricevuta") != receipt:
                    continue
                ref = fields.get("x-riferimento-message-id")
                if ref:
                    counts[ref] += 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=500.0, help="provider limit per minute")
    parser.add_argument("--configured", type=float, default=None,
                        help="the product's configured rate (default: 2 × rate)")
    args = parser.parse_args()
    configured = args.configured or 2 * args.rate

    from wpec_invoicing.config import load_config
    from wpec_invoicing.outbox.queue import Outbox
    from wpec_invoicing.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="wpec-bench-") as tmp, \
            Sandbox(Path(tmp) / "sandbox") as sb:
        path = sb.write_config(Path(tmp) / "wpec.toml", limits={
            "messages_per_minute": configured, "burst": 10, "concurrency": 2,
            "max_message_mb": 30})
        with path.open("a") as fh:
            fh.write("\n[outbox]\nretry_base_seconds = 0.5\nidle_poll_seconds = 0.1\n")
        config = load_config(path)
        with Outbox(config) as outbox:
            prepared = [outbox.prepare_mail(RECIPIENTS[i % len(RECIPIENTS)],
                                            f"Comunicazione {i:05d}",
                                            f"Messaggio numero {i}.\n")
                        for i in range(args.messages)]
            queued = outbox.enqueue(prepared)
            ids = {q.message_id for q in queued}
            sb.set_throttle(SENDER, messages_per_minute=args.rate, burst=5, style="451")
            started = time.monotonic()
            result = outbox.run(until_empty=True)
            elapsed = time.monotonic() - started
        accepted = count_refs(sb, SENDER, receipt="accettazione")
        delivered: collections.Counter = collections.Counter()
        for rcpt in RECIPIENTS:
            delivered.update(count_refs(sb, rcpt))
        refusals = sb.provider.throttle.refusals
    baseline = args.messages / args.rate * 60.0
    duplicates = sum(c - 1 for c in accepted.values() if c > 1) + sum(
        c - 1 for c in delivered.values() if c > 1)
    missing = len(ids - set(accepted)) + len(ids - set(delivered))
    ratio = elapsed / baseline
    print(f"messages {args.messages}, provider limit {args.rate:g}/min, configured "
          f"{configured:g}/min, concurrency 2")
    print(f"completion {elapsed:.1f} s, baseline (messages / provider rate) {baseline:.1f} s, "
          f"ratio {ratio:.3f} (target <= 1.10)")
    print(f"sent {result.sent}, provider refusals (throttled) {refusals}, duplicates "
          f"{duplicates}, missing {missing}")
    return 0 if duplicates == 0 and missing == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
