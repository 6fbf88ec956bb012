"""Any bytes in → a verdict out, never an unhandled exception (inspect, daticert, MIME)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.pec import DaticertError, Kind, PecMessage, inspect, parse_daticert
from wpec_invoicing.pec import builder as b
from wpec_invoicing.pec.mime import multipart_ranges, parse_entity, parse_params


@settings(max_examples=150)
@given(st.binary(max_size=2000))
def test_any_bytes_give_a_verdict(data: bytes) -> None:
    _verdict(inspect(data))


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
    _verdict(inspect(eol.join(lines)))


def _verdict(m: PecMessage) -> PecMessage:
    """A real verdict: the last-line-of-defence catch of inspect (a crash) was not reached."""
    assert isinstance(m.kind, Kind)
    assert m.internal_error is None, m.internal_error
    m.to_json()
    return m


@pytest.fixture(scope="module")
def receipt(pki, original) -> tuple[bytes, range, list[int], PecMessage]:
    """A signed receipt, the offsets of its signed part, of bytes outside it that no verdict
    depends on (the S/MIME preamble text, the Subject's value), and its verdict."""
    raw = b.avvenuta_consegna(original, provider=pki.sha256, identificativo="f@pec.test",
                              consegna="cliente@pec.altro.it")
    top = parse_entity(raw)
    start, end = multipart_ranges(raw, top.params["boundary"], top.body_start, top.end)[0]
    preamble = raw.index(b"This is an S/MIME signed message")
    subject = raw.index(b"\r\nSubject: ") + len(b"\r\nSubject: ")
    inert = [*range(preamble, preamble + 32), *range(subject, raw.index(b"\r\n", subject))]
    assert all(not start <= i < end for i in inert)
    return raw, range(start, end), inert, _verdict(inspect(raw, trust=pki.trust))


@settings(max_examples=60)
@given(st.data())
def test_mutations_inside_the_signed_part_break_intact(pki, receipt, data) -> None:
    raw, signed, _inert, _clean = receipt
    mutated = bytearray(raw)
    positions = data.draw(st.lists(st.sampled_from(signed), min_size=1, max_size=5,
                                   unique=True))
    for index in positions:
        mutated[index] = (raw[index] + data.draw(st.integers(1, 255))) % 256
    m = _verdict(inspect(bytes(mutated), trust=pki.trust))
    assert m.signature.present is True
    assert m.signature.intact is False, (positions, m.signature)
    assert m.signature.reason


@settings(max_examples=60)
@given(st.data())
def test_mutations_outside_the_signed_part_leave_the_verdict(pki, receipt, data) -> None:
    raw, _signed, inert, clean = receipt
    mutated = bytearray(raw)
    for index in data.draw(st.lists(st.sampled_from(inert), min_size=1, max_size=5)):
        mutated[index] = data.draw(st.integers(0x21, 0x7E))  # printable: headers stay headers
    m = _verdict(inspect(bytes(mutated), trust=pki.trust))
    assert m.signature == clean.signature
    assert m.signature.intact is True and m.signature.trusted is True
    assert m.kind is clean.kind
    assert (m.ref_message_id, m.identificativo, m.delivered_to) == (
        clean.ref_message_id, clean.identificativo, clean.delivered_to)


@settings(max_examples=60)
@given(st.data())
def test_mutated_receipts_give_a_verdict(pki, original, data) -> None:
    raw = bytearray(b.avvenuta_consegna(original, provider=pki.sha256,
                                        identificativo="f@pec.test",
                                        consegna="cliente@pec.altro.it"))
    for _ in range(data.draw(st.integers(1, 5))):
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255))
    _verdict(inspect(bytes(raw), trust=pki.trust))


def test_the_last_line_of_defence_is_marked_as_an_internal_error(monkeypatch) -> None:
    """inspect's catch-all keeps a batch going, but is told apart from a verdict on the input
    (the fuzz tests assert it is never reached). A crash is injected: real input cannot
    provoke one once fixed."""
    from wpec_invoicing.pec import message

    def crash(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(message, "_inspect", crash)
    m = inspect(b"Subject: x\r\n\r\nbody\r\n")
    assert m.kind is Kind.NON_PEC and not m.readable
    assert m.internal_error is not None and "RuntimeError: boom" in m.internal_error


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
