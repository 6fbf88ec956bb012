"""File names (00001) and the local check digits of Italian identifiers (00300-00306)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wpec_invoicing.fatturapa import Discount, invoice_file_name, is_valid_file_name, line_total
from wpec_invoicing.fatturapa.identifiers import (
    codice_fiscale_check_char,
    is_valid_codice_fiscale,
    is_valid_partita_iva,
    make_partita_iva,
)


@pytest.mark.parametrize(
    "name",
    [
        "IT01234567897_00001.xml",
        "IT01234567897_0a1Z9.xml.p7m",
        "IT01234567897_1.zip",
        "IT01234567897_00001.XML",
        "IT01234567897_00001.XML.P7M",
        "ITRSSMRA85T10A562S_ABCDE.xml",
        "FR12345678901_1.xml",
        "DE12_1.xml",
    ],
)
def test_valid_file_names(name):
    assert is_valid_file_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "IT0123456789_00001.xml",  # IdCodice too short for IT
        "IT01234567890123456_1.xml",  # too long for IT
        "IT01234567897_000001.xml",  # progressivo over 5
        "IT01234567897_00-01.xml",
        "IT01234567897_00001.pdf",
        "IT01234567897_00001.p7m",  # a bare p7m is not xml.p7m
        "IT01234567897_00001.zip.p7m",
        "it01234567897_00001.xml",  # country in lower case
        "IT01234567897-00001.xml",
        "../IT01234567897_00001.xml",
        "IT01234567897_00001.xml ",
        "IT01234567897_00001.xml\n",
        "",
    ],
)
def test_invalid_file_names(name):
    assert not is_valid_file_name(name)


def test_invoice_file_name_builds_valid_names():
    assert invoice_file_name("IT", "01234567897", "00001") == "IT01234567897_00001.xml"
    assert invoice_file_name("it", "01234567897", "A1", "xml.p7m") == "IT01234567897_A1.xml.p7m"
    assert invoice_file_name("FR", "12", "1", ".zip") == "FR12_1.zip"


@pytest.mark.parametrize(
    "args",
    [("ITA", "01234567897", "1"), ("IT", "0123", "1"), ("IT", "01234567897", "123456"),
     ("IT", "01234567897", "1", "pdf"), ("IT", "0123456789/", "1")],
)
def test_invoice_file_name_refuses_bad_parts(args):
    with pytest.raises(ValueError):
        invoice_file_name(*args)


@given(st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=11, max_size=16),
       st.text("abcXYZ0123456789", min_size=1, max_size=5),
       st.sampled_from(["xml", "xml.p7m", "zip"]))
def test_built_names_are_always_valid(code, progressivo, ext):
    assert is_valid_file_name(invoice_file_name("IT", code, progressivo, ext))


def test_partita_iva_check_digit():
    assert is_valid_partita_iva("01234567897")
    assert not is_valid_partita_iva("01234567890")
    assert not is_valid_partita_iva("00000000000")
    assert not is_valid_partita_iva("0123456789")
    assert not is_valid_partita_iva("0123456789A")
    assert make_partita_iva("0987654321") == "09876543217"


@given(st.text("0123456789", min_size=10, max_size=10).filter(lambda s: s != "0" * 10))
def test_every_single_digit_change_is_caught(first10):
    good = make_partita_iva(first10)
    assert is_valid_partita_iva(good)
    last = int(good[10])
    assert not is_valid_partita_iva(good[:10] + str((last + 1) % 10))


def test_codice_fiscale():
    assert is_valid_codice_fiscale("RSSMRA85T10A562S")
    assert is_valid_codice_fiscale("rssmra85t10a562s")
    assert not is_valid_codice_fiscale("RSSMRA85T10A562X")
    assert not is_valid_codice_fiscale("RSSMRA85T10A56")
    assert is_valid_codice_fiscale("01234567897")  # companies: the partita IVA rule
    assert codice_fiscale_check_char("RSSMRA85T10A562") == "S"
    # omocodia: digits replaced by letters are still valid codes
    assert is_valid_codice_fiscale("RSSMRA85T10A56N" + codice_fiscale_check_char("RSSMRA85T10A56N"))


def test_line_total_applies_quantity_and_discounts():
    assert line_total(D("10.00"), D("3")) == D("30.00")
    assert line_total(D("10.00"), D("3"), [Discount("SC", percentage=D("10"))]) == D("27.00")
    assert line_total(D("10.00"), None, [Discount("MG", amount=D("2.50"))]) == D("12.50")
    assert line_total(D("0.3333"), D("3")) == D("1.00")
