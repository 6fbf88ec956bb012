"""The JSON line of `wpec invoice validate --json`, written directly (`summary.report_text`),
is character for character what `json.dumps(report.to_json(), ensure_ascii=False)` writes:
on every sample, strict and lenient, on the quirky and hostile sets, on signed files, and on
hypothesis-generated invoices whose texts carry quotes, backslashes, control characters and
non-ASCII letters."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.fatturapa.corpus import sample_files
from tests.unit.fatturapa.test_hostile import HOSTILE
from tests.unit.fatturapa.test_quirks import QUIRKS, _spoil
from tests.unit.fatturapa.test_roundtrip import doc_fsm, doc_ord
from wpec_invoicing.fatturapa import read_invoice, write_invoice
from wpec_invoicing.fatturapa.summary import report_text
from wpec_invoicing.resources import data_dir

SAMPLES = dict(sample_files())


def _same(report, file="some/dir/IT01234567890_00001.xml") -> None:
    record = report.to_json()
    record["file"] = file
    assert report_text(report, file) == json.dumps(record, ensure_ascii=False)


@pytest.mark.parametrize("lenient", [False, True])
def test_every_sample_and_shipped_file(lenient):
    for name, xml in SAMPLES.items():
        _same(read_invoice(xml, file_name=name, lenient=lenient), name)
    for path in sorted((data_dir() / "demo").rglob("*")):
        if path.suffix in (".xml", ".p7m"):  # the p7m ones carry a signature verdict
            _same(read_invoice(path.read_bytes(), file_name=path.name, lenient=lenient))


@pytest.mark.parametrize("quirk", sorted(QUIRKS))
def test_quirky_files_strict_and_lenient(quirk):
    xml = next(iter(SAMPLES.values()))
    spoiled, _names = _spoil(xml, [quirk])
    for lenient in (False, True):
        _same(read_invoice(spoiled, file_name="x.xml", lenient=lenient))


def test_hostile_unreadable_and_invalid_files(tmp_path):
    for make in HOSTILE.values():
        _same(read_invoice(make(tmp_path)))
    xml = next(iter(SAMPLES.values()))
    for data in (b"", b"not xml", xml[:200], xml.replace(b"<Numero>", b"<Numero>\x01"),
                 xml.replace(b"</Numero>", b"</Numero><Foo>\"\\</Foo>"), b"\xff\xfe" + xml):
        for lenient in (False, True):
            _same(read_invoice(data, file_name='we"ird\\name\n.xml', lenient=lenient),
                  file='we"ird\\name\n\u00e8\u2028.xml')


_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc"))
                | st.sampled_from('"\\/\t\u00e8\u2028\u20ac'), min_size=1, max_size=12)


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow])
@given(doc_ord | doc_fsm, _TEXT, _TEXT, st.booleans())
def test_generated_invoices_with_awkward_texts(doc, name, number, lenient):
    supplier = dataclasses.replace(doc.supplier, company_name=name, first_name=None,
                                   last_name=None)
    bodies = tuple(dataclasses.replace(b, number=number) for b in doc.bodies)
    doc = dataclasses.replace(doc, supplier=supplier, bodies=bodies)
    report = read_invoice(write_invoice(doc), file_name=name, lenient=lenient)
    _same(report, file=name)


@given(st.decimals(allow_nan=False, allow_infinity=False))
def test_amounts_are_written_as_the_f_format_writes_them(value):
    from wpec_invoicing.fatturapa.summary import _qd, _s

    assert _qd(value) == json.dumps(_s(value))
