"""Every sample invoice the project has, as XML bytes: the shipped demo files (p7m unwrapped),
the invoices the demo creates (data/demo-send) and receives, the sandbox's generated supplier
invoices, and the fixtures the tests build. Well-formed files only (the clean references)."""

from __future__ import annotations

from datetime import date
from functools import cache
from types import SimpleNamespace

from lxml import etree

from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.container import unwrap
from wpec_invoicing.fatturapa.samples import sample_invoice, sample_simplified
from wpec_invoicing.fatturapa.schema import hardened_parser
from wpec_invoicing.resources import data_dir


def _demo() -> list[tuple[str, bytes]]:
    demo = data_dir() / "demo"
    out = []
    for path in sorted(demo.rglob("*")):
        if path.suffix not in (".xml", ".p7m"):
            continue
        data = path.read_bytes()
        xml = unwrap(data).xml if path.suffix == ".p7m" else data
        out.append((f"data/{path.relative_to(demo.parent)}", xml))
    return out


def _demo_send() -> list[tuple[str, bytes]]:
    from wpec_invoicing.outbox.invoices import build_document, load_records, supplier_party

    company = SimpleNamespace(vat="IT01234567897", fiscal_code="01234567897",
                              name="Demo Fornitore S.r.l.")
    out = []
    block: dict = {}
    for source in ("invoices.json", "rejected.json"):  # the second has no supplier block
        text = (data_dir() / "demo-send" / source).read_text(encoding="utf-8")
        records, supplier = load_records(text, kind="json")
        block = supplier or block
        party = supplier_party(company, block, {})
        for i, record in enumerate(records, start=1):
            doc = build_document(record, supplier=party, number=f"{i}/2026",
                                 progressivo=f"{i:05d}", today=date(2026, 1, 20))
            out.append((f"data/demo-send/{source}#{record.ref}", write_invoice(doc)))
    return out


def _received() -> list[tuple[str, bytes]]:
    from wpec_invoicing.demo import _supplier_invoices
    from wpec_invoicing.sandbox.invoices import SUPPLIERS, supplier_invoice

    company = SimpleNamespace(vat="IT01234567897", fiscal_code="01234567897",
                              name="Demo S.r.l.")
    out = [(f"demo received {name}", xml)
           for xml, name, _who, _expected in _supplier_invoices(company)]
    for i, supplier in enumerate(SUPPLIERS):
        name, doc = supplier_invoice(supplier=supplier, lines=1 + i, bodies=1 + i % 2,
                                     format=("FPR12", "FPA12")[i % 2], seed=i,
                                     on=date(2026, 2, 1))
        out.append((f"sandbox {name}", write_invoice(doc)))
    return out


def _fixtures() -> list[tuple[str, bytes]]:
    return [
        ("fixture 1 line", write_invoice(sample_invoice(lines=1))),
        ("fixture lotto", write_invoice(sample_invoice(lines=3, bodies=2))),
        ("fixture FPA12", write_invoice(sample_invoice(format="FPA12", lines=2))),
        ("fixture FSM10", write_invoice(sample_simplified())),
    ]


@cache
def sample_files() -> tuple[tuple[str, bytes], ...]:
    """(name, XML bytes) of every well-formed sample invoice."""
    out = []
    for name, xml in _demo() + _demo_send() + _received() + _fixtures():
        try:
            etree.fromstring(xml, hardened_parser())
        except etree.XMLSyntaxError:
            continue  # a sample that is broken on purpose: no clean reference
        out.append((name, xml))
    return tuple(out)
