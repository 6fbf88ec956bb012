"""One description of the invoice (`fields.GROUPS`) drives the three readers, and they agree.

The tolerant reader (`extract`), the one-walk reader of valid files (`extract_valid`'s
Python code) and its compiled twin (generated from the map by `fieldgen`) must build the
same model from every sample invoice the project has and from generated ones.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from lxml import etree

from tests.unit.fatturapa.corpus import sample_files
from tests.unit.fatturapa.strategies import valid_ordinary
from wpec_invoicing.fatturapa import CHECKS, fieldgen, model, native, write_invoice
from wpec_invoicing.fatturapa import extract_valid as ev
from wpec_invoicing.fatturapa.extract import extract
from wpec_invoicing.fatturapa.fields import GROUPS, KINDS, LINKED_TAGS, ROOT_GROUPS
from wpec_invoicing.fatturapa.schema import hardened_parser, validate

SAMPLES = dict(sample_files())
ORDINARIA = "{http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2}FatturaElettronica"


def _three_readers_agree(xml: bytes) -> None:
    root = etree.fromstring(xml, hardened_parser())
    tolerant, warnings = extract(root)
    assert tolerant is not None and warnings == []
    if root.tag != ORDINARIA or validate(root)[1]:
        return  # the valid-file readers read XSD-valid FPA12/FPR12 only
    walked = ev._document(root)
    assert walked == tolerant and repr(walked) == repr(tolerant)
    if native.compiled is not None:
        compiled = native.compiled.extract_valid(root)
        assert compiled == walked and repr(compiled) == repr(walked)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_the_three_readers_agree_on_every_sample(name):
    _three_readers_agree(SAMPLES[name])


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ordinary())
def test_the_three_readers_agree_on_generated_invoices(doc):
    xml = write_invoice(doc)
    _three_readers_agree(xml)
    assert extract(etree.fromstring(xml, hardened_parser()))[0] == doc


def test_every_group_builds_its_model_and_every_kind_is_known():
    for name, group in GROUPS.items():
        cls = getattr(model, group.model)
        names = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls)
                    if f.default is dataclasses.MISSING}
        read = [f.name for f in group.fields]
        assert len(read) == len(set(read)), name
        assert set(read) <= names, (name, set(read) - names)
        assert required <= set(read), (name, required - set(read))
        for f in group.fields:
            assert f.kind in KINDS, (name, f)
            assert (f.group is not None) == (f.kind in ("one", "required", "many", "flag"))
            assert f.group is None or f.group in GROUPS
    assert set(ROOT_GROUPS.values()) <= set(GROUPS)
    assert tuple(LINKED_TAGS.split("|")) == model.LINKED_KINDS  # the writer's order


def test_the_map_names_real_checks_and_every_check_of_a_document_names_a_field():
    """`checks` next to a field is what a reviewer reads: it must stay true."""
    known = {c.code for c in CHECKS}
    named = {code for g in GROUPS.values() for f in g.fields for code in f.checks}
    assert named <= known, named - known
    on_documents = {c.code for c in CHECKS if c.needs_document}
    assert on_documents <= named, on_documents - named


@pytest.mark.skipif(native.compiled is None, reason="compiled twins switched off")
def test_the_compiled_readers_are_generated_from_the_current_map():
    """`make native` regenerates them; a map edited since would be described twice."""
    stale = "the field map changed since the compiled readers were built: run `make native`"
    assert fieldgen.TARGET.read_text(encoding="utf-8") == fieldgen.generate(), stale
    so = next(fieldgen.HERE.glob("_native.*.so"))
    assert so.stat().st_mtime >= fieldgen.TARGET.stat().st_mtime, stale


def test_reading_a_new_element_is_one_entry_in_the_map(monkeypatch):
    """FPR12 lines carry RiferimentoAmministrazione, which the model does not read; mapping it
    to `Line.legal_reference` is one entry, and all three readers follow (the compiled one
    once regenerated: here its generated source is inspected)."""
    from wpec_invoicing.fatturapa import extract as tolerant
    from wpec_invoicing.fatturapa.fields import Field, Group
    from wpec_invoicing.fatturapa.samples import sample_invoice

    line = GROUPS["line"]
    wider = Group(line.model, (*line.fields,
                               Field("legal_reference", "RiferimentoAmministrazione", "text")))
    monkeypatch.setitem(GROUPS, "line", wider)
    monkeypatch.setattr(tolerant, "_READERS", {})
    monkeypatch.setattr(ev, "_READERS", {})
    xml = write_invoice(sample_invoice(lines=1)).replace(
        b"</AliquotaIVA>", b"</AliquotaIVA><RiferimentoAmministrazione> RA-7 "
                          b"</RiferimentoAmministrazione>", 1)
    root = etree.fromstring(xml, hardened_parser())
    assert validate(root)[1] == []
    assert extract(root)[0].bodies[0].lines[0].legal_reference == "RA-7"
    assert ev._document(root).bodies[0].lines[0].legal_reference == "RA-7"
    source = fieldgen.generate(GROUPS)
    assert '"legal_reference": _get(e, b"RiferimentoAmministrazione"),' in source
