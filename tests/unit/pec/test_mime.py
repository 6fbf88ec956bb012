"""The raw MIME walker: exact byte ranges (what S/MIME signs), parameters, safe names."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.pec.mime import canonical_crlf, parse_entity, parse_params, split_multipart
from wpec_invoicing.pec.names import safe_filename, unique_names


def test_parts_are_cut_exactly_between_delimiters() -> None:
    body = (
        b"preamble\r\n--B\r\nA: 1\r\n\r\nfirst\r\n\r\n--B \t\r\nsecond\r\n--Bnot\r\nstill second"
        b"\r\n--B--\r\nepilogue --B\r\n"
    )
    assert split_multipart(body, "B") == [
        b"A: 1\r\n\r\nfirst\r\n",
        b"second\r\n--Bnot\r\nstill second",
    ]


def test_missing_closing_delimiter_runs_to_the_end() -> None:
    assert split_multipart(b"--B\nx\n--B\ny", "B") == [b"x", b"y"]
    assert split_multipart(b"no delimiters at all", "B") == []


def test_params_quoted_2231_and_continuations() -> None:
    assert parse_params('Multipart/Signed; protocol="application/x-pkcs7-signature"; '
                        'micalg=sha-256; boundary="a;b"') == (
        "multipart/signed",
        {"protocol": "application/x-pkcs7-signature", "micalg": "sha-256", "boundary": "a;b"},
    )
    assert parse_params("attachment; filename*=UTF-8''fattura%20n%C2%B01.pdf")[1] == {
        "filename": "fattura n°1.pdf"
    }
    assert parse_params('attachment; filename*0="IT0123"; filename*1="_00001.xml"')[1] == {
        "filename": "IT0123_00001.xml"
    }
    assert parse_params('x; name="esc\\"aped"')[1] == {"name": 'esc"aped'}


def test_headers_are_case_insensitive_and_unfolded() -> None:
    part = parse_entity(b"X-TipoRicevuta: breve\r\nSubject: a\r\n  b\r\n\r\nbody")
    assert part.headers.get("x-tiporicevuta") == "breve"
    assert part.headers.get("X-TIPORICEVUTA") == "breve"
    assert part.headers.get("subject") == "a  b"
    assert part.body == b"body"


def test_canonical_crlf() -> None:
    assert canonical_crlf(b"a\r\nb") == b"a\r\nb"
    assert canonical_crlf(b"a\nb\r\nc") == b"a\r\nb\r\nc"


def test_safe_names() -> None:
    assert safe_filename("IT01234567890_00001.xml.p7m") == "IT01234567890_00001.xml.p7m"
    assert safe_filename("..\\..\\windows\\system32\\evil.exe") == "evil.exe"
    assert safe_filename("/etc/passwd") == "passwd"
    assert safe_filename("a\x00b\x1fc?.pdf") == "a_b_c_.pdf"
    assert safe_filename("...") == "attachment"
    assert safe_filename(".bashrc") == "bashrc"
    assert safe_filename("nul.txt") == "_nul.txt"
    long = safe_filename("x" * 500 + ".pdf")
    assert long.endswith(".pdf") and len(long.encode()) <= 200
    assert unique_names(["a.pdf", "A.pdf", "a.pdf", "b"]) == ["a.pdf", "A (2).pdf",
                                                              "a (3).pdf", "b"]


@settings(max_examples=150)
@given(st.text(max_size=300))
def test_safe_names_are_always_safe(name: str) -> None:
    safe = safe_filename(name)
    assert safe and "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert not safe.startswith(".") and len(safe.encode()) <= 200
    assert safe not in (".", "..")
