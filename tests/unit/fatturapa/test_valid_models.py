"""Every valid model (hypothesis-made, see `strategies.py`) is written as XML that passes the
XSD and every SdI check, and reads back equal: the writer's validity proven beyond samples."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wpec_invoicing.fatturapa import invoice_file_name, read_invoice, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

from .strategies import valid_ordinary, valid_simplified


def _check(data: bytes, doc, **kwargs) -> None:
    t = doc.transmission
    name = invoice_file_name(t.sender.country, t.sender.code, t.progressivo)
    report = read_invoice(data, file_name=name + (".p7m" if data[:1] != b"<" else ""), **kwargs)
    assert report.schema_valid, report.schema_errors
    assert report.checks == (), report.checks
    assert report.valid and not report.warnings, report.warnings
    assert report.document == doc


@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ordinary("FPR12"))
def test_valid_fpr12_models_write_valid_xml(doc):
    _check(write_invoice(doc), doc)


@settings(max_examples=10, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ordinary("FPA12"))
def test_valid_fpa12_models_signed_write_valid_xml(signer, doc):
    _check(signer.sign(write_invoice(doc)), doc, trust=signer.trust)


@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow])
@given(valid_simplified())
def test_valid_fsm10_models_write_valid_xml(doc):
    _check(write_invoice(doc), doc)


def test_typographic_text_is_written_in_latin1_and_stays_valid():
    from .conftest import with_line

    doc = with_line(sample_invoice(), description="Consulenza – “fase 2” … 100 €\x0bok ő ł",
                    resummarize=False)
    doc = replace(doc, customer=replace(doc.customer, company_name="Société ‘Générale’"))
    report = read_invoice(write_invoice(doc))
    assert report.valid, (report.schema_errors, report.checks)
    assert report.document.bodies[0].lines[0].description == \
        'Consulenza - "fase 2" ... 100 EUR ok o ?'
    assert report.document.customer.company_name == "Société 'Générale'"


@settings(max_examples=25, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=80)
       .filter(lambda t: t.strip()))
def test_any_unicode_in_free_text_still_gives_schema_valid_xml(free):
    from .conftest import with_line

    doc = with_line(sample_invoice(), description=free, resummarize=False)
    doc = replace(doc, customer=replace(doc.customer, company_name=free[:80]))
    report = read_invoice(write_invoice(doc))
    assert report.schema_valid, report.schema_errors
