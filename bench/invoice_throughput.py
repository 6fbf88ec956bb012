"""Files per second: our full read (unwrap + parse + model + XSD + SdI checks) vs bare lxml.

Baseline, measured in the same run on the same bytes: `etree.fromstring` with the same
hardened parser + `XMLSchema.validate` with the same compiled schema. Target: ratio >= 0.5.

    .venv/bin/python bench/invoice_throughput.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import time

from lxml import etree

from wpec_invoicing.fatturapa import read_invoice, write_invoice
from wpec_invoicing.fatturapa.model import NAMESPACE_ORDINARIA
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.fatturapa.schema import hardened_parser, schema_for


def rate(fn, data: bytes, seconds: float) -> float:
    fn(data)  # warm up (schema compiled, caches filled)
    n, start = 0, time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(10):
            fn(data)
        n += 10
        now = time.perf_counter()
        if now >= deadline:
            return n / (now - start)


def baseline(data: bytes) -> bool:
    root = etree.fromstring(data, hardened_parser())
    return schema_for(NAMESPACE_ORDINARIA).validate(root)


def ours(data: bytes) -> bool:
    report = read_invoice(data, file_name="IT01234567897_00001.xml")
    return report.valid


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    args = ap.parse_args()
    print(f"{'invoice':<12}{'bytes':>9}{'baseline f/s':>15}{'ours f/s':>12}{'ratio':>8}")
    worst = None
    for lines in (1, 200):
        data = write_invoice(sample_invoice(lines=lines))
        assert baseline(data) and ours(data), "the benchmark invoice must be valid"
        b = rate(baseline, data, args.seconds)
        o = rate(ours, data, args.seconds)
        ratio = o / b
        worst = ratio if worst is None else min(worst, ratio)
        print(f"{f'{lines} line(s)':<12}{len(data):>9}{b:>15.0f}{o:>12.0f}{ratio:>8.2f}")
    print(f"worst ratio {worst:.2f} (target >= 0.50): {'OK' if worst >= 0.5 else 'BELOW TARGET'}")


if __name__ == "__main__":
    main()
