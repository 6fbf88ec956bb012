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


_B64ISH = st.lists(
    st.one_of(
        st.binary(max_size=40).map(lambda b: __import__("base64").b64encode(b)),
        st.sampled_from([b"\r\n", b"\n", b"=", b"==", b" ", b"*", b"QUJD", b"A", b"AB"]),
    ),
    max_size=30,
).map(b"".join)


@settings(max_examples=300)
@given(body=_B64ISH, chunk=st.integers(min_value=1, max_value=64),
       encoding=st.sampled_from(["base64", "quoted-printable", "7bit", ""]))
def test_chunked_digest_equals_whole_decode(body: bytes, chunk: int, encoding: str) -> None:
    """Hashing a big attachment in chunks gives exactly the size and sha256 of decoding it
    whole, junk and misplaced padding included (those fall back to the whole decode)."""
    import hashlib

    cte = f"Content-Transfer-Encoding: {encoding}\r\n" if encoding else ""
    part = parse_entity(b"Content-Type: application/pdf\r\n" + cte.encode() + b"\r\n" + body)
    whole = part.decoded()
    assert part.digest(chunk) == (len(whole), hashlib.sha256(whole).hexdigest())


@settings(max_examples=200)
@given(data=st.lists(st.sampled_from([b"a", b"\r\n", b"\n", b"\r", b"xyz"]), max_size=40)
       .map(b"".join), chunk=st.integers(min_value=1, max_value=16))
def test_canonical_crlf_in_chunks_equals_whole(data: bytes, chunk: int) -> None:
    from wpec_invoicing.pec.mime import canonical_crlf_range, is_crlf_clean

    framed = b"<<" + data + b">>"
    assert canonical_crlf_range(framed, 2, len(framed) - 2, chunk) == canonical_crlf(data)
    assert is_crlf_clean(framed, 2, len(framed) - 2) == (canonical_crlf(data) is data)


def test_parts_are_ranges_of_one_buffer() -> None:
    """Nested parts are cut as offsets into the message's own bytes: nothing is copied until
    bytes are asked for."""
    raw = (b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain"
           b"\r\n\r\nhello\r\n--B--\r\n")
    top = parse_entity(raw)
    (child,) = top.children()
    assert child.buf is raw
    assert child.body == b"hello" and bytes(child.body_view) == b"hello"
    assert child.raw == b"Content-Type: text/plain\r\n\r\nhello"
