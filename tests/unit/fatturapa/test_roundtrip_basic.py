"""The writer's output is valid, and reading it back gives the same model."""

import pytest

from wpec_invoicing.fatturapa import read_invoice, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice


@pytest.mark.parametrize("fmt", ["FPR12", "FPA12", "FSM10"])
@pytest.mark.parametrize("bodies", [1, 3])
def test_written_invoice_is_valid_and_reads_back_equal(fmt, bodies):
    doc = sample_invoice(format=fmt, lines=4, bodies=bodies)
    report = read_invoice(write_invoice(doc), file_name="IT01234567897_00001.xml")
    assert report.error is None
    assert report.schema_errors == ()
    assert report.checks == ()
    assert report.valid
    assert report.format == fmt
    assert report.document == doc
