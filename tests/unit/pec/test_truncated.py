"""A base64 file cut short is reported ("attachment truncated"), whatever its size and
wherever the cut falls inside a base64 group; a whole file never is."""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from wpec_invoicing.pec import inspect
from wpec_invoicing.pec.message import LAZY_DATA_BYTES


def _message(data: bytes, *, line: int = 76) -> tuple[bytes, bytes]:
    """A plain message with `data` as a base64 PDF, and the bytes of its base64 body."""
    encoded = base64.b64encode(data)
    body = b"\r\n".join(encoded[i:i + line] for i in range(0, len(encoded), line))
    head = (b"From: a@example.it\r\nTo: b@example.it\r\nSubject: file\r\n"
            b"Message-ID: <t@example.it>\r\nMIME-Version: 1.0\r\n"
            b'Content-Type: multipart/mixed; boundary="BB"\r\n\r\n'
            b"--BB\r\nContent-Type: text/plain\r\n\r\nsee the file\r\n"
            b"--BB\r\nContent-Type: application/pdf\r\n"
            b'Content-Disposition: attachment; filename="f.pdf"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    return head + body, body


@given(st.binary(min_size=1, max_size=3000), st.sampled_from([64, 76, 60]))
def test_a_whole_file_is_never_called_truncated(data: bytes, line: int) -> None:
    raw, _body = _message(data, line=line)
    for tail in (b"\r\n--BB--\r\n", b"\r\n"):  # closed, or the last boundary missing
        pec = inspect(raw + tail)
        assert [a.data for a in pec.attachments] == [data]
        assert not pec.attachments[0].truncated
        assert not any("truncated" in p for p in pec.problems)


@given(st.binary(min_size=4, max_size=3000), st.data())
def test_a_cut_inside_a_base64_group_is_reported(data: bytes, draw) -> None:
    raw, body = _message(data)
    chars = [i for i, c in enumerate(body) if c not in b"\r\n"]
    # keep k base64 characters, k not a multiple of 4: what a dropped connection leaves
    k = draw.draw(st.integers(1, len(chars) - 1).filter(lambda n: n % 4))
    cut = raw[:len(raw) - len(body) + chars[k - 1] + 1]
    pec = inspect(cut)
    (att,) = pec.attachments
    assert att.truncated and att.to_json()["truncated"] is True
    assert f"attachment truncated: {att.name}" in "; ".join(pec.problems)
    assert att.size < len(data)


def test_a_big_file_cut_short_is_reported_without_being_held_decoded() -> None:
    data = bytes(range(256)) * (LAZY_DATA_BYTES // 128)
    raw, _body = _message(data)
    pec = inspect(raw[:-5])
    assert pec.attachments[0].truncated
    assert any(p.startswith("attachment truncated: f.pdf") for p in pec.problems)
