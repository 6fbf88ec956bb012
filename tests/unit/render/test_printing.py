"""What printing a message's parts means (PDF through, image on a page, invoice rendered, the
rest listed), the `print` action's options, and it_IT number formatting as a property."""

from __future__ import annotations

import io
import struct
import zlib
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from wpec_invoicing.fatturapa import write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.render.formatting import money, number
from wpec_invoicing.render.printing import attachment_printable, message_printables
from wpec_invoicing.rules.actions import build_action

from .conftest import pdf_text


def _png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2,
                                                               0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def test_each_kind_of_attachment(tmp_path):
    pdf = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    assert attachment_printable("a.pdf", pdf, "application/pdf").pdf == pdf  # unchanged
    image = attachment_printable("scan.png", _png(), "image/png")
    assert image.pdf is not None and len(PdfReader(io.BytesIO(image.pdf)).pages) == 1
    assert "scan.png" in pdf_text(image.pdf, tmp_path)
    xml = write_invoice(sample_invoice())
    invoice = attachment_printable("IT01234567897_00001.xml", xml, "application/xml")
    assert invoice.name == "IT01234567897_00001.pdf" and "2026/1" in pdf_text(invoice.pdf,
                                                                              tmp_path)
    other = attachment_printable("data.bin", b"\x01\x02\x03", "application/octet-stream")
    assert other.pdf is None and "not printable" in other.reason
    broken = attachment_printable("x.xml", b"<a>not an invoice</a>", "application/xml")
    assert broken.pdf is None and "not an invoice" in broken.reason


def test_message_parts_in_reading_order():
    from wpec_invoicing.pec import builder

    raw = builder.compose(sender="a@pec.test", to=["b@pec.test"], subject="Foto",
                          text="In allegato.",
                          attachments=[("foto.png", _png(), "image/png"),
                                       ("x.bin", b"\x00\x01", "application/octet-stream")])
    items = message_printables(raw, ["header", "body", "attachments"])
    assert [i.pdf is not None for i in items] == [True, True, False]
    assert items[1].name == "foto.png.pdf" and items[2].name == "x.bin"
    assert len(message_printables(raw, ["attachments"])) == 2


@pytest.mark.parametrize("options, error", [
    ({"printer": "P", "parts": ["everything"]}, "parts"),
    ({"parts": ["header"]}, "folder"),
    ({"printer": "P", "colour": True}, "unknown option"),
    ({"printer": 3}, "string"),
])
def test_print_action_options_are_checked_when_the_rule_is_built(options, error):
    with pytest.raises(ValueError, match=error):
        build_action({"action": "print", **options})


@given(st.decimals(min_value=Decimal("-1e12"), max_value=Decimal("1e12"), places=8,
                   allow_nan=False, allow_infinity=False))
def test_italian_numbers_read_back_to_the_same_value(value):
    text = number(value)
    assert Decimal(text.replace(".", "").replace(",", ".")) == value
    shown = money(value, "EUR")
    assert shown.endswith("\u00a0€") and "," in shown


def test_the_invoice_of_an_sdi_envelope_is_printed_once(tmp_path):
    from tests.integration.ingest.factory import Factory

    factory = Factory()
    raw = factory.sdi_invoice(factory.invoice_xml(number="ONCE-1"))
    texts = [pdf_text(i.pdf, tmp_path) for i in message_printables(raw, ["header",
                                                                         "attachments"])
             if i.pdf is not None]
    assert sum("ONCE-1" in t for t in texts) == 1
    [alone] = [i for i in message_printables(raw, ["header"]) if i.pdf is not None]
    assert "ONCE-1" in pdf_text(alone.pdf, tmp_path)  # without attachments: after the message
