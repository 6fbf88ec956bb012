"""Invoices rendered for people: what a reader sees in the PDF, the original inside it, the band
that says what is wrong, and every sample and hostile file rendered without a crash."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.model import Withholding
from wpec_invoicing.fatturapa.samples import sample_invoice, sample_simplified
from wpec_invoicing.render.documents import NotRenderable, render_invoice
from wpec_invoicing.resources import data_dir

from .conftest import pdf_text, save_first_page

DEMO = data_dir() / "demo"
SAMPLES = sorted(p for p in DEMO.rglob("*") if p.suffix.lower() in (".xml", ".p7m"))


def test_pdf_shows_parties_lines_and_totals_in_italian(tmp_path):
    source = DEMO / "IT01234567897_00001.xml"
    rendered = render_invoice(source.read_bytes(), file_name=source.name, fmt="pdf")
    save_first_page(rendered.content, "invoice-demo-00001")
    text = pdf_text(rendered.content, tmp_path)
    for expected in ("Fornitore Demo S.r.l.", "Cliente Demo S.p.A.", "IT01234567897",
                     "IT12345678903", "N. 2026/118", "31 marzo 2026", "TD01 – Fattura",
                     "MP05 – Bonifico", "IT60 X054 2811 1010 0000 0123 456",
                     "Totale documento", "392,52 €", "286,00", "62,92",
                     "RF01 – Ordinario", "Escluse ex art. 15"):
        assert expected in text, expected
    assert "NON VALIDA" not in text.upper()


def test_the_original_file_is_embedded_byte_for_byte():
    for source in (DEMO / "IT01234567897_00001.xml", DEMO / "IT01234567897_00002.xml.p7m"):
        data = source.read_bytes()
        rendered = render_invoice(data, file_name=source.name, fmt="pdf")
        reader = PdfReader(io.BytesIO(rendered.content))
        assert reader.attachments == {source.name: [data]}


def test_pdf_claims_pdf_a_3b():
    rendered = render_invoice((DEMO / "IT01234567897_00003.xml").read_bytes(), fmt="pdf")
    reader = PdfReader(io.BytesIO(rendered.content))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data()
    assert b'pdfaid:part="3"' in xmp and b'pdfaid:conformance="B"' in xmp


def test_invalid_invoice_renders_with_a_band_and_strict_refuses(tmp_path):
    source = DEMO / "invalid" / "IT01234567897_00011.xml"
    data = source.read_bytes()
    rendered = render_invoice(data, file_name=source.name, fmt="pdf")
    save_first_page(rendered.content, "invoice-invalid-00011")
    text = pdf_text(rendered.content, tmp_path)
    assert "FATTURA NON VALIDA" in text
    assert "00421" in text and "00423" in text
    assert rendered.valid is False and len(rendered.problems) == 2
    with pytest.raises(NotRenderable, match=r"refused \(--strict\).*00421"):
        render_invoice(data, file_name=source.name, fmt="pdf", strict=True)


def test_leniently_readable_file_renders_with_its_repairs_listed():
    source = DEMO / "invalid" / "IT01234567897_00014.xml"
    rendered = render_invoice(source.read_bytes(), file_name=source.name, fmt="html")
    html = rendered.content.decode()
    assert "fattura NON valida" in html and "XML declaration allowed only at the start" in html


def test_every_body_of_a_lotto_and_withholding(tmp_path):
    doc = sample_invoice(bodies=3, lines=2)
    bodies = list(doc.bodies)
    bodies[1] = replace(bodies[1], withholdings=(
        Withholding("RT01", Decimal("4.00"), Decimal("20.00"), "A"),))
    doc = replace(doc, bodies=tuple(bodies))
    rendered = render_invoice(write_invoice(doc), file_name="IT01234567897_00009.xml",
                              fmt="pdf")
    text = pdf_text(rendered.content, tmp_path)
    for body in doc.bodies:
        assert f"N. {body.number}" in text
    assert "DOCUMENTO 3 DI 3 DEL LOTTO" in text
    assert "RT01 – Ritenuta persone fisiche" in text and "Netto a pagare" in text


def test_simplified_invoice(tmp_path):
    rendered = render_invoice(write_invoice(sample_simplified()), fmt="pdf")
    text = pdf_text(rendered.content, tmp_path)
    assert "Fattura semplificata" in text


@pytest.mark.parametrize("source", SAMPLES, ids=lambda p: p.name)
def test_every_sample_renders_offline(source):
    rendered = render_invoice(source.read_bytes(), file_name=source.name, fmt="html")
    assert rendered.content.startswith(b"<!DOCTYPE html>")
    assert b"<script" not in rendered.content
    assert not re.search(rb"(src|href)\s*=|url\(|@import", rendered.content)  # no resource


def test_pdf_of_samples_fetches_nothing():
    for source in SAMPLES[:3]:
        rendered = render_invoice(source.read_bytes(), file_name=source.name, fmt="pdf")
        assert rendered.refused == ()


def _hostile() -> dict[str, bytes]:
    from tests.unit.fatturapa.test_hostile import HOSTILE

    return {name: make(Path("/nonexistent")) for name, make in HOSTILE.items()
            if name != "xxe file"}


@pytest.mark.parametrize("name", list(_hostile()))
def test_hostile_files_get_one_line_not_a_crash(name):
    with pytest.raises(NotRenderable) as caught:
        render_invoice(_hostile()[name], file_name="x.xml", fmt="html")
    assert "\n" not in str(caught.value)


def test_markup_in_invoice_text_is_text(tmp_path):
    doc = sample_invoice()
    body = replace(doc.bodies[0], causale=(
        '<img src="http://127.0.0.1:9/pixel.png"><script>alert(1)</script>',))
    doc = replace(doc, bodies=(body,))
    rendered = render_invoice(write_invoice(doc), fmt="pdf")
    assert rendered.refused == ()
    assert "<script>alert(1)</script>" in pdf_text(rendered.content, tmp_path)
