"""The shipped demo invoices say what data/demo/README.md says they say."""

from __future__ import annotations

import pytest

from wpec_invoicing.cms import TrustStore
from wpec_invoicing.fatturapa import read_invoice
from wpec_invoicing.resources import data_dir

DEMO = data_dir() / "demo"
TRUST = TrustStore.from_pem((DEMO / "ca" / "demo-signing-ca.pem").read_bytes())
VALID = sorted(p.name for p in DEMO.iterdir() if p.suffix in (".xml", ".p7m"))
INVALID = {
    "IT01234567897_00010.xml": ("00400", "00429"),
    "IT01234567897_00011.xml": ("00421", "00423"),
    "IT01234567897_00012.xml.p7m": ("00102",),
    "IT01234567897_00014.xml": ("00200",),
    "fattura marzo.xml": ("00001",),
}
NOT_WELL_FORMED = {"IT01234567897_00014.xml"}  # unreadable as received (exit 2)


def test_there_are_demo_files():
    assert len(VALID) >= 6


@pytest.mark.parametrize("name", VALID)
def test_demo_invoice_is_valid(name):
    report = read_invoice((DEMO / name).read_bytes(), file_name=name, trust=TRUST)
    assert report.valid, (report.schema_errors, report.checks)
    if report.signature is not None:
        assert report.signature.intact and report.signature.trusted


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_demo_invoice_has_its_codes(name):
    report = read_invoice((DEMO / "invalid" / name).read_bytes(), file_name=name, trust=TRUST)
    assert report.readable is (name not in NOT_WELL_FORMED)
    assert report.codes == INVALID[name]


def test_messy_demo_invoice_is_valid_when_lenient():
    name = "IT01234567897_00014.xml"
    report = read_invoice((DEMO / "invalid" / name).read_bytes(), file_name=name, lenient=True)
    assert report.valid
    assert len(report.warnings) == 3
