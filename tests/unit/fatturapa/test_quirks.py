"""Real-world quirks: every sample invoice, spoiled by each known quirk and by pairs of them,
still reads leniently with the same number, date and totals as the clean file, and says what
it repaired.

The quirks are the ones supplier files carry (see `encoding` and `reader`): junk before the
prolog, byte order marks that do not match the bytes, a stray character after or inside a
namespace URI however it is written (literal, entity or character reference), blanks around
values, windows-1252 bytes in a file declared UTF-8, vendor elements, a bare `&` or an HTML
entity (only the recovering parser reads past them), every element in the FatturaPA namespace
(default namespace or prefix), comments inside values, CRLF line ends.
"""

from __future__ import annotations

import codecs
import itertools
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.fatturapa.corpus import sample_files
from tests.unit.fatturapa.strategies import valid_ordinary
from wpec_invoicing.fatturapa import read_invoice, write_invoice

SAMPLES = dict(sample_files())
_NS_DECL = re.compile(rb'(xmlns:\w+=")(http://ivaservizi\.agenziaentrate\.gov\.it/docs/xsd/'
                      rb'fatture/v1\.[02])(")')


def _namespace(stray: bytes):
    return lambda xml: _NS_DECL.sub(rb"\1\2" + stray + rb"\3", xml, count=1)


def _first(tag: bytes, before: bytes = b"", after: bytes = b"", *, utf8_only: bool = False):
    """Text put around the first value of `tag` (inside its element); with `utf8_only`, in
    files declared UTF-8 only (in a windows-1252 file a windows-1252 byte is no quirk)."""
    def apply(xml: bytes) -> bytes:
        if utf8_only and re.match(rb"<\?xml[^>]*encoding=.(?!utf-8)", xml, re.IGNORECASE):
            return xml
        start = xml.find(b"<" + tag + b">")
        if start < 0:
            return xml
        start += len(tag) + 2
        end = xml.index(b"</" + tag + b">", start)
        return xml[:start] + before + xml[start:end] + after + xml[end:]
    return apply


def _stray_quote(xml: bytes) -> bytes:
    return _NS_DECL.sub(rb'\1\2\3"', xml, count=1)


def _vendor_element(xml: bytes) -> bytes:
    return xml.replace(b"<DatiTrasmissione>",
                       b'<DatiTrasmissione><v:Gestionale xmlns:v="urn:vendor">X</v:Gestionale>',
                       1)


def _default_namespace(xml: bytes) -> bytes:
    xml = re.sub(rb"<(/?)p:(FatturaElettronica(?:Semplificata)?)\b", rb"<\1\2", xml)
    return xml.replace(b"xmlns:p=", b"xmlns=", 1)


def _prefix_everywhere(xml: bytes) -> bytes:
    return re.sub(rb"<(/?)(?![A-Za-z_][\w.-]*:)([A-Za-z_])", rb"<\1p:\2", xml)


# name: (spoil the bytes, a repair warning expected). Byte-level prefixes last: pairs apply
# in this order, so a mark or junk lands in front as in real files.
QUIRKS = {
    "namespace stray quote as &quot;": (_namespace(b"&quot;"), True),
    "namespace stray quote as &#34;": (_namespace(b"&#34;"), True),
    "namespace stray quote as &#x22;": (_namespace(b"&#x22;"), True),
    "namespace stray apostrophe (literal)": (_namespace(b"'"), True),
    "namespace stray blank": (_namespace(b" "), True),
    "stray quote after the namespace": (_stray_quote, True),
    "blanks around values": (_first(b"Numero", b"  ", b" \n"), True),
    "windows-1252 byte in a UTF-8 file": (
        _first(b"Descrizione", b"Caff\xe8 ", utf8_only=True), True),
    "vendor element": (_vendor_element, True),
    "bare ampersand": (_first(b"Descrizione", b"A & B "), True),
    "HTML entity": (_first(b"Descrizione", b"Caff&egrave;&nbsp;"), True),
    "default namespace on every element": (_default_namespace, True),
    "prefix on every element": (_prefix_everywhere, True),
    "comment inside a value": (_first(b"ImportoTotaleDocumento", b"", b"<!-- ok -->"), False),
    "CRLF line ends": (lambda xml: xml.replace(b"\n", b"\r\n"), False),
    "UTF-8 byte order mark": (lambda xml: codecs.BOM_UTF8 + xml, False),
    "junk before the prolog": (lambda xml: b"\r\nContent-Type: text/xml\r\n\r\n" + xml, True),
    "UTF-16 byte order mark in front of 8-bit bytes": (lambda xml: b"\xff\xfe" + xml, True),
}
# Pairs that contradict each other (one removes the prefix the other writes everywhere).
_EXCLUSIVE = {frozenset({"default namespace on every element", "prefix on every element"})}
PAIRS = [p for p in itertools.combinations(QUIRKS, 2) if frozenset(p) not in _EXCLUSIVE]


def _facts(report) -> list[tuple]:
    """What must survive any quirk: per invoice its number, date and totals."""
    assert report.document is not None, (report.error, report.warnings)
    return [(b.number, b.date, b.total, tuple((s.taxable, s.tax) for s in b.vat_summary),
             tuple(line.total_price for line in b.lines)) for b in report.document.bodies]


def _spoil(xml: bytes, names) -> tuple[bytes, list[str]]:
    """The spoiled bytes and the quirks that applied (a quirk may not fit a file)."""
    applied = []
    for name in names:
        spoiled = QUIRKS[name][0](xml)
        if spoiled != xml:
            applied.append(name)
        xml = spoiled
    return xml, applied


def _reads_the_same(xml: bytes, names) -> None:
    clean = _facts(read_invoice(xml, lenient=True))
    spoiled, applied = _spoil(xml, names)
    report = read_invoice(spoiled, lenient=True)
    assert report.readable, report.error
    assert _facts(report) == clean
    if any(QUIRKS[n][1] for n in applied):
        assert report.warnings, applied


@pytest.mark.parametrize("quirk", list(QUIRKS))
def test_each_quirk_on_every_sample_reads_the_same(quirk):
    for name, xml in SAMPLES.items():
        try:
            _reads_the_same(xml, (quirk,))
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc


@settings(max_examples=120, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(SAMPLES)), st.sampled_from(PAIRS))
def test_pairs_of_quirks_on_samples_read_the_same(name, pair):
    _reads_the_same(SAMPLES[name], pair)


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(valid_ordinary(), st.sampled_from(list(QUIRKS)))
def test_quirks_on_generated_invoices_read_the_same(doc, quirk):
    _reads_the_same(write_invoice(doc), (quirk,))


@pytest.mark.parametrize("quirk", [q for q in QUIRKS
                                   if QUIRKS[q][1] and q != "blanks around values"])
def test_the_strict_verdict_stays_not_valid(quirk):
    """Lenient reading repairs; judging does not: the file as received is not valid.
    (Blanks around a Numero are no fault: its type collapses them.)"""
    report = read_invoice(_spoil(SAMPLES["fixture 1 line"], (quirk,))[0])
    assert not report.valid
    assert "00200" in report.codes
