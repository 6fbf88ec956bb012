"""Every valid model (hypothesis-made, see `strategies.py`) is written as XML that passes the
XSD and every SdI check, and reads back equal: the writer's validity proven beyond samples."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from wpec_invoicing.fatturapa import invoice_file_name, read_invoice, write_invoice

from .strategies import valid_ordinary, valid_simplified


def _check(data: bytes, doc, **kwargs) -> None:
    t = doc.transmission
    name = invoice_file_name(t.sender.country, t.sender.code, t.progressivo)
    report = read_invoice(data, file_name=name + (".p7m" if data[:1] != b"<" else ""), **kwargs)
    assert report.schema_valid, report.schema_errors
    assert report.checks == (), report.checks
    assert report.valid and not report.warnings, report.warnings
    assert report.document == doc


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ordinary("FPR12"))
def test_valid_fpr12_models_write_valid_xml(doc):
    _check(write_invoice(doc), doc)


@settings(max_examples=15, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ordinary("FPA12"))
def test_valid_fpa12_models_signed_write_valid_xml(signer, doc):
    _check(signer.sign(write_invoice(doc)), doc, trust=signer.trust)


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(valid_simplified())
def test_valid_fsm10_models_write_valid_xml(doc):
    _check(write_invoice(doc), doc)
