"""Rendering as a user meets it: `wpec invoice render DIR -o OUT` as a whole process.

1. HTML: invoices per second of `wpec invoice render DIR --format html -o OUT` (read,
   validate, render, write; process start-up included). One process uses one core: the rate
   per core is invoices / CPU seconds (user + system) of that process, which the other
   tenants of a shared machine cannot inflate; wall-clock rates are printed too.
   Target: >= 200 invoices/s per core.
2. PDF overhead: `wpec invoice render DIR --format pdf -o OUT` against a baseline measured in
   the same run: a process that only imports WeasyPrint and turns the SAME HTML (the files
   step 1 wrote) into PDFs with plain `HTML(string=...).write_pdf()`. Ours adds reading and
   validating the invoice, PDF/A-3b and the embedded original. Runs alternate and the ratio
   is of CPU seconds (the machine is shared: wall clock moves with the neighbours' load; it is
   printed too); the median of the per-round ratios. Target: <= 1.2.

    .venv/bin/python bench/render.py [--html-invoices 1000] [--pdf-invoices 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

BASELINE = """
import sys
from pathlib import Path
from weasyprint import HTML
out = Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
for source in sorted(Path(sys.argv[1]).glob("*.html")):
    (out / (source.stem + ".pdf")).write_bytes(HTML(string=source.read_text()).write_pdf())
"""


def make_invoices(folder: Path, count: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        doc = sample_invoice(progressivo=f"{i + 1:05d}", lines=3 + i % 12,
                             on=date(2026, 1, 1) + timedelta(days=i % 300))
        doc = dataclasses.replace(doc, bodies=tuple(
            dataclasses.replace(b, number=f"B-{i + 1}") for b in doc.bodies))
        (folder / f"IT01234567897_{i + 1:05d}.xml").write_bytes(write_invoice(doc))


def run(command: list[str]) -> tuple[float, float]:
    """(wall-clock seconds, CPU seconds: user + system) of one process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"bench: {' '.join(command[:5])}... failed: {done.stderr.decode()[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def wpec(*args: str) -> list[str]:
    return [sys.executable, "-m", "wpec_invoicing", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html-invoices", type=int, default=1000)
    parser.add_argument("--pdf-invoices", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wpec-bench-render-") as tmp:
        root = Path(tmp)
        make_invoices(root / "many", args.html_invoices)
        html_rates, wall_rates = [], []
        for r in range(args.rounds):
            elapsed, cpu = run(wpec("invoice", "render", str(root / "many"), "--format",
                                    "html", "-o", str(root / f"html-{r}")))
            html_rates.append(args.html_invoices / cpu)
            wall_rates.append(args.html_invoices / elapsed)
        html_rate = statistics.median(html_rates)
        print(f"HTML: {args.html_invoices} invoices, median {html_rate:.0f} invoices/s per "
              f"core (CPU time; rounds: {', '.join(f'{x:.0f}' for x in html_rates)}; "
              f"wall clock on this shared machine: "
              f"{', '.join(f'{x:.0f}' for x in wall_rates)}/s); "
              f"target >= 200: {'OK' if html_rate >= 200 else 'MISSED'}")

        make_invoices(root / "few", args.pdf_invoices)
        run(wpec("invoice", "render", str(root / "few"), "--format", "html",
                 "-o", str(root / "few-html")))
        ratios, wall_ratios, ours_all, base_all = [], [], [], []
        for r in range(args.rounds):
            base_wall, base = run([sys.executable, "-c", BASELINE, str(root / "few-html"),
                                   str(root / f"base-{r}")])
            ours_wall, ours = run(wpec("invoice", "render", str(root / "few"), "--format",
                                       "pdf", "-o", str(root / f"pdf-{r}")))
            ratios.append(ours / base)
            wall_ratios.append(ours_wall / base_wall)
            ours_all.append(ours)
            base_all.append(base)
        ratio = statistics.median(ratios)
        n = args.pdf_invoices
        print(f"PDF: {n} invoices, ours median {statistics.median(ours_all):.2f} CPU s "
              f"({n / statistics.median(ours_all):.1f}/s per core), WeasyPrint alone on the "
              f"same HTML {statistics.median(base_all):.2f} CPU s; ratio {ratio:.3f} "
              f"(rounds: {', '.join(f'{x:.3f}' for x in ratios)}; wall clock: "
              f"{', '.join(f'{x:.3f}' for x in wall_ratios)}); target <= 1.2: "
              f"{'OK' if ratio <= 1.2 else 'MISSED'}")


if __name__ == "__main__":
    main()
