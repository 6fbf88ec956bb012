"""`--style ade` and `--stylesheet`: the agency's stylesheets, unmodified, chosen by format;
any stylesheet runs hardened (no network, no writes, no reads outside its folder)."""

from __future__ import annotations

import hashlib
import re

import pytest

from wpec_invoicing.errors import InputError
from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice, sample_simplified
from wpec_invoicing.render.documents import render_invoice
from wpec_invoicing.render.xslt import ADE_STYLESHEETS, ade_stylesheet, apply_stylesheet
from wpec_invoicing.resources import data_dir

from .conftest import pdf_text, save_first_page


def test_agency_stylesheets_are_the_unmodified_files():
    provenance = (data_dir() / "stylesheets" / "PROVENANCE.md").read_text()
    for name in ADE_STYLESHEETS.values():
        digest = hashlib.sha256((data_dir() / "stylesheets" / name).read_bytes()).hexdigest()
        assert re.search(rf"{re.escape(name)} .*{digest}", provenance), name


@pytest.mark.parametrize("doc", [sample_invoice(), sample_invoice(format="FPA12"),
                                 sample_simplified()], ids=["FPR12", "FPA12", "FSM10"])
def test_ade_style_is_chosen_by_format(doc):
    html = render_invoice(write_invoice(doc), fmt="html", style="ade").content.decode()
    assert doc.bodies[0].number in html
    expected = {"FPA12": "FatturaPA", "FPR12": "FatturaOrdinaria",
                "FSM10": "FatturaSemplificata"}[doc.format]
    assert ade_stylesheet(doc.format).name.startswith(expected)


def test_ade_pdf_is_readable_and_carries_the_original(tmp_path):
    xml = (data_dir() / "demo" / "IT01234567897_00001.xml").read_bytes()
    rendered = render_invoice(xml, file_name="IT01234567897_00001.xml", fmt="pdf", style="ade")
    save_first_page(rendered.content, "invoice-ade-00001")
    text = pdf_text(rendered.content, tmp_path)
    assert "2026/118" in text and "Fornitore Demo S.r.l." in text
    # the agency's logo is a relative file the stylesheet names: refused, not fetched
    assert all(url.startswith("file://") for url in rendered.refused)


HOSTILE_XSL = """<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl">
  <xsl:template match="/">
    <html><body>
      <p id="secret"><xsl:value-of select="document('{secret}')"/></p>
      <p id="net"><xsl:value-of select="document('{net}')"/></p>
      <p id="sibling"><xsl:value-of select="document('sibling.xml')/s"/></p>
      {write}
    </body></html>
  </xsl:template>
</xsl:stylesheet>
"""


def test_a_hostile_stylesheet_reads_only_its_folder_and_writes_nothing(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.xml"
    secret.write_text("<s>TOP-SECRET</s>")
    folder = tmp_path / "xsl"
    folder.mkdir()
    (folder / "sibling.xml").write_text("<s>SIBLING-OK</s>")
    xsl = folder / "evil.xsl"
    xsl.write_text(HOSTILE_XSL.format(secret=secret.as_uri(), net="sibling.xml", write=""))
    html = apply_stylesheet(write_invoice(sample_invoice()), xsl)
    assert "SIBLING-OK" in html and "TOP-SECRET" not in html
    net = folder / "net.xsl"
    net.write_text(HOSTILE_XSL.format(secret="sibling.xml", net="http://127.0.0.1:9/x.xml",
                                      write=""))
    with pytest.raises(InputError, match="denied"):
        apply_stylesheet(write_invoice(sample_invoice()), net)
    writer = folder / "writer.xsl"
    target = tmp_path / "written.txt"
    writer.write_text(HOSTILE_XSL.format(
        secret="sibling.xml", net="sibling.xml",
        write=f'<exsl:document href="{target}" method="text">pwned</exsl:document>'))
    with pytest.raises(InputError, match="failed"):
        apply_stylesheet(write_invoice(sample_invoice()), writer)
    assert not target.exists()


def test_a_broken_stylesheet_is_one_line(tmp_path):
    bad = tmp_path / "bad.xsl"
    bad.write_text("<xsl:stylesheet")
    with pytest.raises(InputError, match="not a usable XSLT"):
        render_invoice(write_invoice(sample_invoice()), fmt="html", stylesheet=bad)
