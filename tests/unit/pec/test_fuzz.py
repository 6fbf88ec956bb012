"""Any bytes in → a verdict out, never an unhandled exception (inspect, daticert, MIME)."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.pec import DaticertError, Kind, inspect, parse_daticert
from wpec_invoicing.pec import builder as b
from wpec_invoicing.pec.mime import parse_entity, parse_params


@settings(max_examples=150)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_verdict(data: bytes) -> None:
    m = inspect(data)
    assert isinstance(m.kind, Kind)
    m.to_json()


_header_soup = st.lists(
    st.sampled_from([
        b"X-Trasporto: posta-certificata", b"X-Ricevuta: accettazione", b"X-Trasporto: errore",
        b'Content-Type: multipart/signed; boundary="b"', b'Content-Type: multipart/mixed; '
        b'boundary="b"', b"Content-Type: application/pkcs7-mime; smime-type=signed-data",
        b"Content-Transfer-Encoding: base64", b"--b", b"--b--", b"", b"Subject: CONSEGNA: x",
        b'Content-Type: application/xml; name="daticert.xml"', b"<postacert tipo='x'>",
        b'Content-Type: message/rfc822; name="postacert.eml"', b"MIIB", b"=?utf-8?b?w6g=?=",
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        b"Content-Type: message/delivery-status", b"Status: 5.1.1",
    ]),
    max_size=30,
)


@settings(max_examples=200)
@given(_header_soup, st.sampled_from([b"\r\n", b"\n"]))
def test_mime_shaped_garbage_gives_a_verdict(lines: list[bytes], eol: bytes) -> None:
    m = inspect(eol.join(lines))
    assert isinstance(m.kind, Kind)
    m.to_json()


@settings(max_examples=60)
@given(st.data())
def test_mutated_receipts_give_a_verdict(pki, original, data) -> None:
    raw = bytearray(b.avvenuta_consegna(original, provider=pki.sha256,
                                        identificativo="f@pec.test",
                                        consegna="cliente@pec.altro.it"))
    for _ in range(data.draw(st.integers(1, 5))):
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255))
    m = inspect(bytes(raw), trust=pki.trust)
    assert isinstance(m.kind, Kind)
    assert m.signature.intact in (True, False, None)


@settings(max_examples=100)
@given(st.binary(max_size=500))
def test_daticert_parser_raises_only_its_own_error(data: bytes) -> None:
    with contextlib.suppress(DaticertError):
        parse_daticert(data)


@settings(max_examples=100)
@given(st.text(max_size=200), st.binary(max_size=300))
def test_mime_helpers_never_crash(value: str, raw: bytes) -> None:
    parse_params(value)
    part = parse_entity(raw)
    part.filename()
    part.decoded()
    part.children()
