"""PEC inspect throughput: messages per second for `pec.inspect` (classify + daticert +
S/MIME signature check with a trust store + unwrap + attachment hashes), beside a baseline of
the standard library's `email.message_from_bytes` on the same bytes, in the same run.

    .venv/bin/python bench/pec_throughput.py [--seconds 3] [--big-mb 50]

Two workloads: 20 KB signed delivery receipts (completa, carrying the original and its
attachment; 200 distinct messages from one provider, as in a real box) and a 2 MB transport
envelope. Target: at least 500 receipts per second on one core with signature checks on.

Then memory: the peak of Python allocations (tracemalloc) during one `inspect` of a 50 MB
transport envelope (one base64 PDF in the original) and of the same original as plain mail,
as a multiple of the message size, beside `email.message_from_bytes` on the same bytes.
`--big-mb 0` skips it.
"""

from __future__ import annotations

import argparse
import email
import hashlib
import os
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from wpec_invoicing.cms import TrustStore
from wpec_invoicing.cms.certs import issue_certificate, make_ca
from wpec_invoicing.pec import Kind, inspect
from wpec_invoicing.pec import builder as b


def _rate(fn: Callable[[bytes], object], corpus: list[bytes], seconds: float) -> float:
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for raw in corpus:
            fn(raw)
        done += len(corpus)
        now = time.perf_counter()
        if now >= deadline:
            return done / (now - start)


def _peak(fn: Callable[[bytes], Any], raw: bytes) -> tuple[int, Any]:
    """Peak bytes allocated by Python while `fn(raw)` runs (the input itself not counted)."""
    tracemalloc.start()
    try:
        result = fn(raw)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, result


def memory(provider: b.Provider, trust: TrustStore, megabytes: int) -> None:
    mb = 1024 * 1024
    payload = b"%PDF-1.4\n" + os.urandom(megabytes * mb * 3 // 4)
    plain = b.compose(
        sender="azienda@pec.bench", to=["cliente@pec.altro.it"], subject="Allegato grande",
        text="In allegato.\n", attachments=[("grande.pdf", payload, "application/pdf")],
    )
    envelope = b.transport_envelope(plain, provider=provider)
    digest = hashlib.sha256(payload).hexdigest()
    for label, raw in ((f"{len(envelope) / mb:.0f} MB transport envelope", envelope),
                       (f"{len(plain) / mb:.0f} MB plain mail", plain)):
        peak, message = _peak(lambda data: inspect(data, trust=trust), raw)
        # what we measured did the whole job: signature verified, attachment hashed
        assert message.attachments[0].sha256 == digest
        assert raw is plain or message.signature.intact
        del message
        base, parsed = _peak(email.message_from_bytes, raw)
        del parsed
        print(f"{label}: inspect peak +{peak / mb:,.0f} MB ({peak / len(raw):.2f}x the "
              f"message), email.message_from_bytes peak +{base / mb:,.0f} MB "
              f"({base / len(raw):.2f}x), ratio {peak / base:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--big-mb", type=int, default=50,
                        help="size of the big message for the memory check (0: skip)")
    args = parser.parse_args()

    ca_key, ca = make_ca("Bench PEC CA", not_before=datetime(2020, 1, 1, tzinfo=UTC), days=20 * 365)
    key, cert = issue_certificate(ca_key, ca, "Posta certificata Bench", email="pc@pec.bench",
                                  not_before=datetime(2020, 1, 1, tzinfo=UTC), days=20 * 365)
    provider = b.Provider("pec.bench", "Bench PEC S.p.A.", b.Signer(key, cert, "sha256"))
    trust = TrustStore([ca])

    receipts = []
    for i in range(200):
        original = b.compose(
            sender="azienda@pec.bench", to=[f"cliente{i}@pec.altro.it"],
            subject=f"Fattura {i}", text="In allegato la fattura.\n",
            attachments=[(f"IT01234567890_{i:05d}.xml", os.urandom(10_500), "application/xml")],
        )
        receipts.append(b.avvenuta_consegna(
            original, provider=provider, identificativo=b.new_identificativo("pec.bench"),
            consegna=f"cliente{i}@pec.altro.it",
        ))
    big_original = b.compose(
        sender="azienda@pec.bench", to=["cliente@pec.altro.it"], subject="Allegato grande",
        attachments=[("archivio.zip", os.urandom(1_480_000), "application/zip")],
    )
    envelope = b.transport_envelope(big_original, provider=provider)

    # Sanity: what we time really is a verified, trusted receipt.
    check = inspect(receipts[0], trust=trust)
    assert check.kind is Kind.AVVENUTA_CONSEGNA and check.signature.intact
    assert check.signature.trusted
    assert inspect(envelope, trust=trust).signature.intact

    print(f"receipt size: {sum(map(len, receipts)) / len(receipts) / 1024:.1f} KB, "
          f"envelope size: {len(envelope) / 1024 / 1024:.2f} MB")
    for label, corpus in (("20 KB receipts", receipts), ("2 MB envelope", [envelope])):
        ours = _rate(lambda raw: inspect(raw, trust=trust), corpus, args.seconds)
        base = _rate(email.message_from_bytes, corpus, args.seconds)
        print(f"{label}: inspect {ours:,.1f} msg/s, email.message_from_bytes {base:,.1f} msg/s, "
              f"ratio {ours / base:.2f}")
    if args.big_mb > 0:
        memory(provider, trust, args.big_mb)


if __name__ == "__main__":
    main()
