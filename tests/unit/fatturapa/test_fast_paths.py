"""The reader's fast paths give exactly what the general paths give."""

from __future__ import annotations

import dataclasses
from unittest.mock import patch

from hypothesis import HealthCheck, given, settings
from lxml import etree

from tests.unit.fatturapa.test_roundtrip import doc_fsm, doc_ord
from wpec_invoicing.fatturapa import checks, write_invoice
from wpec_invoicing.fatturapa.extract import extract
from wpec_invoicing.fatturapa.extract_valid import Unexpected, extract_valid
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.fatturapa.schema import hardened_parser, validate


def _same_model(data: bytes) -> None:
    root = etree.fromstring(data, hardened_parser())
    slow, _warnings = extract(root)
    try:
        fast = extract_valid(root)
    except Unexpected:
        return
    assert fast == slow and repr(fast) == repr(slow)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(doc_ord)
def test_one_walk_extractor_matches_the_tolerant_one(doc):
    data = write_invoice(doc)
    _same_model(data)
    _same_model(data.replace(b"<Descrizione>", b"<Descrizione> \n "))
    _same_model(data.replace(b"</IdCodice>", b"<!-- c --></IdCodice>"))


def test_one_walk_extractor_on_valid_samples():
    for lines, bodies in ((1, 1), (200, 2)):
        root = etree.fromstring(write_invoice(sample_invoice(lines=lines, bodies=bodies)),
                                hardened_parser())
        assert validate(root)[1] == []
        assert extract_valid(root) == extract(root)[0]


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(doc_ord | doc_fsm)
def test_skipping_checks_by_features_changes_nothing(doc):
    for td in ("TD01", "TD16", "TD17", "TD18", "TD21", "TD27", "TD28"):
        d = dataclasses.replace(
            doc, bodies=tuple(dataclasses.replace(b, document_type=td) for b in doc.bodies)
        )
        ctx = dict(file_name="IT01234567897_00001.xml", container="xml")
        gated = checks.run_checks(d, checks.CheckContext(**ctx))
        with patch.object(checks, "_features", lambda doc, ctx: -1):  # -1: call every check
            every = checks.run_checks(d, checks.CheckContext(**ctx))
        assert gated == every
