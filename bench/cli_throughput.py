"""The `wpec` command as a user runs it: whole processes, interpreter start included.

    .venv/bin/python bench/cli_throughput.py [--invoices 3000] [--messages 2000] [--rounds 3]
                                             [--memory 1000,10000]

In one run, on files generated into a temporary folder with the project's own builders
(`sandbox.invoices.generate_batch` for supplier invoices, `pec.builder` for provider-signed
receipts and transport envelopes, signed by a throwaway CA):

(a) `wpec invoice validate --json DIR` on the invoices (in 30 subfolders) against a bare lxml
    script, run the same way, that parses each file with a hardened parser and validates it
    against the same compiled official XSD. Goal: ratio >= 0.5.
(b) `wpec pec inspect --json --trust CA.pem DIR` on the receipts and envelopes against a stdlib
    script doing `email.message_from_bytes` on each file. Goals: >= 500 messages/s, ratio >= 0.6.
(c) `wpec --help` and `wpec --version` (goal: under 150 ms each), beside `python -c pass`.
(d) Peak RSS (from wait4) of `wpec invoice validate --json` on 1,000 and 10,000 files (the
    same 1,000 invoices copied): goal, within 1.2x.

Each timing is the best of `--rounds` alternating runs (the machine is shared and its load
drifts); ratios are of the best times. Outputs are discarded, exit codes and line counts checked.

The package is byte-compiled first (`compileall`), as `pip install` leaves an installed
package: a checkout run with PYTHONDONTWRITEBYTECODE=1 (CI, sandboxes) otherwise recompiles
every module it imports from source at every start (~70-90 ms here), which no user meets.
`--no-compile` skips that step, to see the difference.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
WPEC = [PYTHON, "-m", "wpec_invoicing"]

LXML_SCRIPT = r'''
import os, pathlib, sys
from lxml import etree
schemas, xsd = {}, sys.argv[1]
local = pathlib.Path(xsd, "xmldsig-core-schema.xsd").resolve().as_uri()
def compiled(ns):
    name = {"http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2":
            "FatturaPA_v1.2.3.xsd"}.get(ns, "FatturaSemplificata_v1.0.2.xsd")
    doc = etree.parse(os.path.join(xsd, name),
                      etree.XMLParser(no_network=True, resolve_entities=False))
    for imp in doc.getroot().iterfind("{http://www.w3.org/2001/XMLSchema}import"):
        imp.set("schemaLocation", local)
    return etree.XMLSchema(doc)
n = 0
for root_dir, dirs, files in os.walk(sys.argv[2]):
    dirs.sort()
    for name in sorted(files):
        with open(os.path.join(root_dir, name), "rb") as fh:
            data = fh.read()
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False)
        root = etree.fromstring(data, parser)
        ns = etree.QName(root).namespace
        schema = schemas.get(ns) or schemas.setdefault(ns, compiled(ns))
        print(name, schema.validate(root))
        n += 1
'''

EMAIL_SCRIPT = r'''
import email, email.policy, os, sys
for root_dir, dirs, files in os.walk(sys.argv[1]):
    dirs.sort()
    for name in sorted(files):
        with open(os.path.join(root_dir, name), "rb") as fh:
            message = email.message_from_bytes(fh.read())
        print(name, message.get_content_type(), len(message.get_payload()))
'''


def run(cmd: list[str], *, expect_lines: int | None = None) -> tuple[float, int]:
    """Wall seconds and peak RSS (KB) of one whole process; its stdout counted, not kept."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    lines = 0
    assert proc.stdout is not None
    for _ in proc.stdout:
        lines += 1
    err = proc.stderr.read() if proc.stderr else b""
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or (expect_lines is not None and lines != expect_lines):
        raise SystemExit(f"{' '.join(cmd[:6])}...: exit {code}, {lines} lines "
                         f"(expected {expect_lines})\n{err.decode(errors='replace')[-2000:]}")
    return elapsed, usage.ru_maxrss


def best(cmds: dict[str, list[str]], rounds: int, expect: int | None) -> dict[str, float]:
    """The best wall time of each command over `rounds` alternating runs."""
    times = {name: float("inf") for name in cmds}
    for _ in range(rounds):
        for name, cmd in cmds.items():
            times[name] = min(times[name], run(cmd, expect_lines=expect)[0])
    return times


def make_invoices(folder: Path, count: int) -> int:
    from wpec_invoicing.sandbox.invoices import generate_batch

    batch = generate_batch(count, seed=11)
    for i, inv in enumerate(batch):
        sub = folder / f"{i % 30:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / inv.file_name).write_bytes(inv.data)
    return len(batch)


def make_messages(folder: Path, count: int) -> Path:
    """Receipts (accettazione, avvenuta consegna) and transport envelopes carrying invoices,
    signed by a provider whose CA is written to folder/../ca.pem."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from wpec_invoicing.cms.certs import issue_certificate, make_ca
    from wpec_invoicing.pec import builder as b
    from wpec_invoicing.sandbox.invoices import generate_batch

    since = datetime(2020, 1, 1, tzinfo=UTC)
    ca_key, ca = make_ca("Bench PEC CA", not_before=since, days=20 * 365)
    key, cert = issue_certificate(ca_key, ca, "Posta certificata Bench", email="pc@pec.bench",
                                  not_before=since, days=20 * 365)
    provider = b.Provider("pec.bench", "Bench PEC S.p.A.", b.Signer(key, cert, "sha256"))
    ca_file = folder.parent / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(Encoding.PEM))
    folder.mkdir(parents=True, exist_ok=True)
    invoices = generate_batch(50, seed=5)
    for i in range(count):
        inv = invoices[i % len(invoices)]
        original = b.compose(
            sender="azienda@pec.bench", to=[f"cliente{i}@pec.altro.it"],
            subject=f"Invio fattura {inv.file_name}", text="In allegato la fattura.\n",
            attachments=[(inv.file_name, inv.data, "application/xml")])
        kind = i % 3
        if kind == 0:
            raw = b.accettazione(original, provider=provider,
                                 identificativo=b.new_identificativo("pec.bench"))
        elif kind == 1:
            raw = b.avvenuta_consegna(original, provider=provider,
                                      identificativo=b.new_identificativo("pec.bench"),
                                      consegna=f"cliente{i}@pec.altro.it")
        else:
            raw = b.transport_envelope(original, provider=provider)
        (folder / f"{i:05d}.eml").write_bytes(raw)
    return ca_file


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--invoices", type=int, default=3000)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--memory", default="1000,10000",
                    help="two file counts for the peak-RSS check ('' to skip)")
    ap.add_argument("--no-compile", action="store_true",
                    help="do not byte-compile the package first (see the docstring)")
    args = ap.parse_args()
    if not args.no_compile:
        import compileall

        compileall.compile_dir(str(ROOT / "wpec_invoicing"), quiet=1)
    print("package byte-compiled first (as installed)" if not args.no_compile else
          "package NOT byte-compiled first (PYTHONDONTWRITEBYTECODE="
          f"{os.environ.get('PYTHONDONTWRITEBYTECODE', '')!r})")

    with tempfile.TemporaryDirectory(prefix="wpec-bench-cli-") as tmp:
        work = Path(tmp)
        invoices, messages = work / "invoices", work / "messages"
        n_inv = make_invoices(invoices, args.invoices)
        ca_file = make_messages(messages, args.messages)
        script_lxml = work / "bare_lxml.py"
        script_lxml.write_text(LXML_SCRIPT)
        script_email = work / "bare_email.py"
        script_email.write_text(EMAIL_SCRIPT)
        xsd = str(ROOT / "schemas")

        print(f"(a) {n_inv} invoice files in 30 subfolders")
        t = best({"wpec": [*WPEC, "invoice", "validate", "--json", str(invoices)],
                  "lxml": [PYTHON, str(script_lxml), xsd, str(invoices)]},
                 args.rounds, n_inv)
        ratio_a = t["lxml"] / t["wpec"]
        print(f"    wpec invoice validate --json: {t['wpec']:.2f} s ({n_inv / t['wpec']:,.0f} "
              f"files/s); bare lxml parse + XSD: {t['lxml']:.2f} s "
              f"({n_inv / t['lxml']:,.0f} files/s); ratio {ratio_a:.2f} (goal >= 0.5)")

        print(f"(b) {args.messages} receipts and transport envelopes")
        t = best({"wpec": [*WPEC, "pec", "inspect", "--json", "--trust", str(ca_file),
                           str(messages)],
                  "email": [PYTHON, str(script_email), str(messages)]},
                 args.rounds, args.messages)
        rate = args.messages / t["wpec"]
        ratio_b = t["email"] / t["wpec"]
        print(f"    wpec pec inspect --json --trust: {t['wpec']:.2f} s ({rate:,.0f} msg/s); "
              f"stdlib email parse: {t['email']:.2f} s "
              f"({args.messages / t['email']:,.0f} msg/s); ratio {ratio_b:.2f} "
              "(goals >= 500 msg/s, >= 0.6)")

        print("(c) start-up")
        t = best({"--help": [*WPEC, "--help"], "--version": [*WPEC, "--version"],
                  "python": [PYTHON, "-c", "pass"]}, max(args.rounds, 5), None)
        print(f"    wpec --help {t['--help'] * 1000:.0f} ms, wpec --version "
              f"{t['--version'] * 1000:.0f} ms (goal < 150 ms); python -c pass "
              f"{t['python'] * 1000:.0f} ms")

        if args.memory:
            small, large = (int(x) for x in args.memory.split(","))
            pool = work / "pool"
            make_invoices(pool, small)
            files = sorted(pool.rglob("*.xml"))
            peaks = {}
            for count in (small, large):
                folder = work / f"mem{count}"
                for i in range(count):
                    src = files[i % len(files)]
                    sub = folder / f"{i // len(files):03d}"  # names kept: SdI check 00001
                    sub.mkdir(parents=True, exist_ok=True)
                    os.link(src, sub / src.name)
                peaks[count] = run([*WPEC, "invoice", "validate", "--json", str(folder)],
                                   expect_lines=count)[1] / 1024
                shutil.rmtree(folder)
            print(f"(d) peak RSS of wpec invoice validate --json: {small} files "
                  f"{peaks[small]:.0f} MB, {large} files {peaks[large]:.0f} MB, ratio "
                  f"{peaks[large] / peaks[small]:.2f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
