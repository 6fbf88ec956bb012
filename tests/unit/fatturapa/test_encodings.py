"""Encodings and the small defects of real files: strict says "not valid", lenient reads on."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.fatturapa import encoding, read_invoice, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

XML = write_invoice(sample_invoice(lines=2))
NS = b'xmlns:p="http://ivaservizi.agenziaentrate.gov.it/docs/xsd/fatture/v1.2"'
ACCENTED = "Attività di manutenzione caldaia, però è già fatta"


def _declared(encoding: str, text: str = ACCENTED) -> bytes:
    xml = XML.decode().replace("Servizio di consulenza, voce 1", text)
    xml = xml.replace("encoding='UTF-8'", f"encoding='{encoding}'")
    return xml.encode(encoding)


@pytest.mark.parametrize("encoding", ["UTF-8", "windows-1252", "ISO-8859-1"])
def test_declared_encoding_is_honoured(encoding):
    report = read_invoice(_declared(encoding))
    assert report.valid, report.schema_errors
    assert report.document.bodies[0].lines[0].description == ACCENTED
    assert report.warnings == ()


def test_utf8_bom_is_fine():
    report = read_invoice(codecs.BOM_UTF8 + _declared("UTF-8"))
    assert report.valid
    assert report.document.bodies[0].lines[0].description == ACCENTED


def test_utf16_with_bom():
    xml = XML.decode().replace("encoding='UTF-8'", "encoding='UTF-16'")
    report = read_invoice(xml.encode("utf-16"))
    assert report.valid, (report.error, report.schema_errors)


def test_euro_sign_is_outside_the_latin1_range_the_xsd_allows():
    report = read_invoice(_declared("windows-1252", "Sconto di 5 €"))
    assert report.readable
    assert report.codes == ("00200",)
    assert report.document.bodies[0].lines[0].description == "Sconto di 5 €"


DEFECTS = {
    # name: (bytes, expected warning fragment)
    "junk before the prolog": (b"Content-Type: text/xml\r\n\r\n" + XML, "junk"),
    "wrong encoding declaration": (
        XML.replace(b"Servizio di consulenza, voce 1", ACCENTED.encode("cp1252")),
        "windows-1252",
    ),
    "blanks around values": (
        XML.replace(b"<Data>2026-01-15</Data>", b"<Data>  2026-01-15 </Data>").replace(
            b"<CodiceDestinatario>0000000<", b"<CodiceDestinatario> 0000000 <"
        ),
        "blanks around 2 value(s)",
    ),
    "stray quote after a namespace declaration": (XML.replace(NS, NS + b'"'), "stray quote"),
    "namespace URI with a stray character": (
        XML.replace(NS, NS.replace(b'v1.2"', b'v1.2 "')),
        "namespace URI",
    ),
    # well-formed (a valid URI, of a namespace nobody knows)
    "namespace URI with a stray semicolon": (
        XML.replace(NS, NS.replace(b'v1.2"', b'v1.2;"')),
        "namespace URI",
    ),
}


WELL_FORMED = {"blanks around values", "namespace URI with a stray semicolon"}


@pytest.mark.parametrize("name", sorted(WELL_FORMED))
def test_strict_mode_says_not_valid_but_still_extracts(name):
    data, _fragment = DEFECTS[name]
    report = read_invoice(data)
    assert report.readable
    assert not report.valid
    assert report.codes == ("00200",)
    assert not report.schema_valid and report.schema_errors
    assert report.document is not None
    assert report.document.bodies[0].number == "2026/1"


@pytest.mark.parametrize("name", sorted(set(DEFECTS) - WELL_FORMED))
def test_strict_mode_says_unreadable_when_not_well_formed(name):
    """Whatever makes the bytes not well-formed, the strict verdict is one: unreadable (the
    CLI exits 2), 00200 with the parser's reason, and a warning that lenient reading can
    repair it."""
    data, _fragment = DEFECTS[name]
    report = read_invoice(data)
    assert not report.readable and not report.valid
    assert report.error.startswith("not well-formed XML")
    assert report.codes == ("00200",)
    assert report.document is None
    assert any(w.startswith("read leniently") for w in report.warnings), report.warnings


@pytest.mark.parametrize("name", list(DEFECTS))
def test_lenient_mode_reads_and_lists_the_defect_as_a_warning(name):
    data, fragment = DEFECTS[name]
    report = read_invoice(data, lenient=True)
    assert report.valid, (report.schema_errors, report.checks)
    assert any(fragment in w for w in report.warnings), report.warnings
    clean = read_invoice(XML).document
    if name == "wrong encoding declaration":
        assert report.document.bodies[0].lines[0].description == ACCENTED
    else:
        assert report.document == clean


def test_schema_error_carries_line_and_path():
    report = read_invoice(XML.replace(b"<Divisa>EUR</Divisa>", b"<Divisa>EURO</Divisa>"))
    assert report.codes == ("00200",)
    err = report.schema_errors[0]
    assert err.line == XML.split(b"<Divisa>")[0].count(b"\n") + 1
    assert err.path.endswith("DatiGeneraliDocumento/Divisa")
    assert "EURO" in err.message
    assert f"line {err.line}" in report.checks[0].message


def test_value_that_cannot_be_converted_becomes_none_with_a_warning():
    report = read_invoice(XML.replace(b"<Data>2026-01-15</Data>", b"<Data>15/01/2026</Data>"),
                          lenient=True)
    assert report.readable and not report.valid
    assert report.document.bodies[0].date is None
    assert any("Data is not a date" in w for w in report.warnings)


def test_vendor_extra_namespace_elements_are_ignored_by_the_model():
    extra = XML.replace(
        b"<DatiTrasmissione>",
        b'<DatiTrasmissione><v:Note xmlns:v="urn:vendor">gestionale X</v:Note>',
    )
    report = read_invoice(extra)
    assert report.readable and not report.valid  # the XSD does not allow it
    assert report.document == read_invoice(XML).document


def test_lenient_mode_drops_vendor_elements_with_a_warning():
    extra = XML.replace(
        b"<DatiTrasmissione>",
        b'<DatiTrasmissione><v:Note xmlns:v="urn:vendor">gestionale X</v:Note>',
    )
    report = read_invoice(extra, lenient=True)
    assert report.valid, report.schema_errors
    assert any("urn:vendor" in w for w in report.warnings)


def test_00200_points_at_the_first_schema_error():
    bad = XML.replace(b"<Divisa>EUR</Divisa>", b"<Divisa>EURO</Divisa>")
    report = read_invoice(bad)
    (check,) = report.checks
    assert check.code == "00200"
    assert check.line == report.schema_errors[0].line
    assert b"EURO" in bad.splitlines()[check.line - 1]


def test_utf8_bytes_declared_latin1_are_fixed_when_lenient():
    data = _declared("UTF-8").replace(b"encoding='UTF-8'", b"encoding='ISO-8859-1'")
    strict = read_invoice(data)
    assert strict.valid  # as declared, the file is well-formed Latin-1: SdI takes it so
    assert strict.document.bodies[0].lines[0].description != ACCENTED  # "AttivitÃ ..."
    lenient = read_invoice(data, lenient=True)
    assert lenient.valid
    assert lenient.document.bodies[0].lines[0].description == ACCENTED
    assert any("bytes are UTF-8" in w for w in lenient.warnings)


def test_real_latin1_is_not_touched_when_lenient():
    report = read_invoice(_declared("ISO-8859-1"), lenient=True)
    assert report.valid and report.warnings == ()
    assert report.document.bodies[0].lines[0].description == ACCENTED


_STRAY = st.sampled_from(['"', "'", " ", "\t", "`", ";", "/", ">", "&", "<"])


def _written(ch: str, style: int) -> str:
    """One character as an attribute value may spell it."""
    if style == 1:
        return f"&#{ord(ch)};"
    if style == 2:
        return f"&#x{ord(ch):X};"
    named = {'"': "&quot;", "'": "&apos;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
    return named.get(ch, ch if ch not in "&<" else f"&#{ord(ch)};")


@settings(max_examples=80)
@given(st.sampled_from(encoding.KNOWN_NAMESPACES),
       st.lists(st.tuples(_STRAY, st.integers(0, 2)), min_size=1, max_size=3),
       st.lists(st.tuples(_STRAY, st.integers(0, 2)), max_size=2),
       st.sampled_from(['"', "'"]))
def test_a_known_namespace_with_stray_characters_is_restored_however_written(
        ns, after, before, quote):
    value = "".join(_written(c, s) for c, s in before) + ns + "".join(
        _written(c, s) for c, s in after)
    if quote in value:  # the delimiter itself must be a reference inside the value
        value = value.replace(quote, "&quot;" if quote == '"' else "&apos;")
    tag = f"<x:Root xmlns:x={quote}{value}{quote} a='1'>".encode()
    fixed, fixes = encoding.fix_namespaces(tag)
    assert fixed == f'<x:Root xmlns:x="{ns}" a=\'1\'>'.encode()
    assert len(fixes) == 1 and ns in fixes[0]


def test_an_unknown_namespace_is_left_alone():
    for value in (b"urn:vendor", b"http://example.com/fatture/v1.2x1", b""):
        tag = b'<a xmlns:v="' + value + b'"/>'
        assert encoding.fix_namespaces(tag) == (tag, [])


def test_the_recovering_parser_reads_a_bare_ampersand_and_says_so():
    data = XML.replace(b"Servizio di consulenza, voce 1", b"Ricambi & accessori")
    assert not read_invoice(data).readable  # as received: not well-formed
    report = read_invoice(data, lenient=True)
    assert report.valid, (report.schema_errors, report.checks)
    assert any("parser recovered" in w for w in report.warnings), report.warnings
    assert report.document.bodies[0].number == "2026/1"


def test_html_entities_are_what_the_author_meant_when_lenient():
    data = XML.replace(b"Servizio di consulenza, voce 1", b"Caff&egrave; &bogus;ok")
    assert not read_invoice(data).readable  # undeclared entities: not well-formed
    report = read_invoice(data, lenient=True)
    assert report.valid, (report.schema_errors, report.checks)
    assert report.document.bodies[0].lines[0].description == "Caffè ok"
    assert any("&egrave; → 'è'" in w and "&bogus; dropped" in w for w in report.warnings)


def test_not_well_formed_and_not_an_invoice_keeps_the_clear_error():
    report = read_invoice(b"<html><body><p>Fattura & ricevuta</body>", lenient=True)
    assert not report.readable
    assert report.error.startswith("not well-formed XML")
    assert report.codes == ("00200",) and report.document is None


def test_xmldsig_namespace_with_a_stray_reference_is_restored_when_lenient():
    data = XML.replace(
        b"</p:FatturaElettronica>",
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#&#x22;"/>'
        b"</p:FatturaElettronica>")
    report = read_invoice(data, lenient=True)
    assert report.readable
    assert any("xmldsig#'" in w for w in report.warnings), report.warnings


@pytest.mark.parametrize("lenient", [False, True])
def test_a_namespace_holding_a_brace_is_a_verdict_not_a_crash(lenient):
    """Found by hypothesis: `}` inside the URI makes lxml's tag `{ns}}...`, which
    `etree.QName` refuses."""
    report = read_invoice(XML.replace(b"xsd/fatture", b"xsd/}atture", 1), lenient=lenient)
    assert not report.internal_error, report.error
    assert not report.valid and "00200" in report.codes
