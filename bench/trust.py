"""`wpec pec inspect` with revocation checking on (warm cache) against the same run with it off.

    .venv/bin/python bench/trust.py [--messages 200] [--runs 5]

A test PKI (root, intermediate with CRL + OCSP on a loopback HTTP server, a PEC provider's
signing certificate naming both) signs `--messages` delivery receipts (20 KB, as in a real
box). Then, as a user meets it, whole processes:

    wpec pec inspect --json --trust root.pem --revocation off       FILES...   (baseline)
    wpec pec inspect --json --trust root.pem --revocation soft-fail FILES...   (checked)

after one checked run that fills the cache (`[trust] cache_dir` of a wpec.toml in the work
folder). Each pair runs `--runs` times, interleaved; the medians are compared:
ratio = baseline time / checked time (target ≥ 0.9), on wall time and on the processes' CPU
time (steadier on a shared machine). Also printed: one cold checked run (the cache emptied:
CRL/OCSP fetched), for the record.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from wpec_invoicing.cms import certs
from wpec_invoicing.pec import builder as b
from wpec_invoicing.sandbox.revocation import Authority, RevocationResponder


def _pki(responder: RevocationResponder) -> tuple[bytes, b.Provider]:
    since = datetime.now(UTC) - timedelta(days=30)
    root_key, root = certs.make_ca("Bench Root CA", not_before=since)
    responder.add(Authority("root", root_key, root))
    inter_key, inter = certs.issue_ca(root_key, root, "Bench PEC CA", not_before=since,
                                      crl_url=responder.crl_url("root"),
                                      ocsp_url=responder.ocsp_url("root"))
    r_key, r_cert = certs.issue_ocsp_responder(inter_key, inter, "Bench PEC OCSP")
    responder.add(Authority("inter", inter_key, inter, r_key, r_cert))
    key, cert = certs.issue_certificate(inter_key, inter, "Posta certificata Bench",
                                        email="pc@pec.bench",
                                        crl_url=responder.crl_url("inter"),
                                        ocsp_url=responder.ocsp_url("inter"))
    provider = b.Provider("pec.bench", "Bench PEC S.p.A.",
                          b.Signer(key, cert, "sha256", extra_certs=(inter,)))
    return certs.cert_to_pem(root), provider


def _receipts(provider: b.Provider, count: int, folder: Path) -> list[str]:
    files = []
    for i in range(count):
        original = b.compose(
            sender="azienda@pec.bench", to=[f"cliente{i}@pec.altro.it"],
            subject=f"Fattura {i}", text="In allegato la fattura.\n",
            attachments=[(f"IT01234567890_{i:05d}.xml", os.urandom(10_500), "application/xml")])
        raw = b.avvenuta_consegna(original, provider=provider,
                                  identificativo=b.new_identificativo("pec.bench"),
                                  consegna=f"cliente{i}@pec.altro.it")
        path = folder / f"receipt-{i:04d}.eml"
        path.write_bytes(raw)
        files.append(str(path))
    return files


CPU: list[float] = []  # CPU seconds (user + system) of each run's process, in run order


def _run(args: list[str], env: dict[str, str]) -> tuple[float, list[dict]]:
    """(wall seconds, records) of one whole `wpec pec inspect` process; its CPU time is
    appended to CPU (the machine may be shared: CPU time is the steadier figure)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "wpec_invoicing", "pec", "inspect", "--json",
                           *args], capture_output=True, env=env, check=True, timeout=600)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return elapsed, [json.loads(line) for line in done.stdout.decode().splitlines()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wpec-bench-trust-"))
    try:
        with RevocationResponder() as responder:
            root_pem, provider = _pki(responder)
            (work / "root.pem").write_bytes(root_pem)
            (work / "wpec.toml").write_text('data_dir = "data"\n')
            files = _receipts(provider, args.messages, work)
            env = {**os.environ, "WPEC_CONFIG": str(work / "wpec.toml")}
            trust = ["--trust", str(work / "root.pem")]
            off = [*trust, "--revocation", "off", *files]
            on = [*trust, "--revocation", "soft-fail", *files]

            cold, records = _run(on, env)  # fills the cache
            statuses = {r["signature"]["revocation"]["status"] for r in records}
            assert statuses == {"good"}, statuses
            asked = len(responder.requests)
            base_times, checked_times, base_cpu, checked_cpu = [], [], [], []
            for _ in range(args.runs):
                base_times.append(_run(off, env)[0])
                base_cpu.append(CPU[-1])
                checked_times.append(_run(on, env)[0])
                checked_cpu.append(CPU[-1])
            assert len(responder.requests) == asked, "a warm run asked the responder"
            shutil.rmtree(work / "data" / "revocation-cache", ignore_errors=True)
            cold_again, _ = _run(on, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base, checked = statistics.median(base_times), statistics.median(checked_times)
    n = args.messages
    print(f"{n} receipts per run, {args.runs} runs each, medians")
    print(f"revocation off:              {base:.3f} s ({n / base:,.0f} msg/s)")
    print(f"revocation on, warm cache:   {checked:.3f} s ({n / checked:,.0f} msg/s)")
    print(f"revocation on, cold cache:   {cold_again:.3f} s (first run {cold:.3f} s)")
    print(f"ratio (off time / warm-on time): {base / checked:.2f}  (target >= 0.90)")
    cpu_base, cpu_checked = statistics.median(base_cpu), statistics.median(checked_cpu)
    print(f"CPU seconds: off {cpu_base:.3f}, warm-on {cpu_checked:.3f}, "
          f"ratio {cpu_base / cpu_checked:.2f}")


if __name__ == "__main__":
    main()
