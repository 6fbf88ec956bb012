"""The fast FLAGS + INTERNALDATE reader gives exactly what imapclient's parser gives, on any
line shape a server may send (items in any order, no flags, keywords, MODSEQ, literals)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient.response_parser import parse_fetch_response

from wpec_invoicing.housekeeping.fetch_state import _LINE, parse_state

FLAG = st.one_of(st.sampled_from([b"\\Seen", b"\\Answered", b"\\Flagged", b"\\Deleted",
                                  b"\\Draft", b"$Forwarded", b"$Urgente", b"\\Recent"]),
                 st.from_regex(rb"\A[A-Za-z$][A-Za-z0-9_$.-]{0,12}\Z"))
DATE = st.builds(lambda d, mo, y, h, mi, s, sign, off: (
    f"{d:2d}-{mo}-{y} {h:02d}:{mi:02d}:{s:02d} {sign}{off:04d}").encode(),
    st.integers(1, 28), st.sampled_from(["Jan", "Feb", "Mar", "Nov", "Dec"]),
    st.integers(1990, 2040), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
    st.sampled_from("+-"), st.sampled_from([0, 100, 130, 500, 1200]))


@st.composite
def responses(draw) -> tuple[list, set[int]]:
    data: list = []
    uids = draw(st.lists(st.integers(1, 10**9), unique=True, max_size=8))
    for seq, uid in enumerate(uids, 1):
        flags = draw(st.lists(FLAG, unique=True, max_size=4))
        items = [b"UID %d" % uid, b"FLAGS (" + b" ".join(flags) + b")",
                 b'INTERNALDATE "' + draw(DATE) + b'"']
        if draw(st.booleans()):
            items.append(b"MODSEQ (%d)" % draw(st.integers(1, 10**12)))
        order = draw(st.permutations(items))
        line = b"%d (" % seq + b" ".join(order) + b")"
        if draw(st.integers(0, 20)) == 0:  # a literal: imaplib hands over a tuple
            data.append((b"%d (UID %d FLAGS () INTERNALDATE {26}" % (seq, uid),
                         b"02-Nov-2026 10:00:00 +0100"))
            data.append(b")")
        else:
            data.append(line)
    wanted = set(draw(st.lists(st.sampled_from(uids), max_size=8))) if uids else set()
    return data, wanted


@settings(max_examples=300)
@given(responses(), st.booleans())
def test_fast_reader_equals_imapclient(case, normalise: bool) -> None:
    data, wanted = case
    expected = {
        uid: ([f.decode() for f in item.get(b"FLAGS", ())], item.get(b"INTERNALDATE"))
        for uid, item in parse_fetch_response(data, normalise, True).items() if uid in wanted}
    assert parse_state(data, wanted, normalise) == expected
    if not any(isinstance(item, tuple) for item in data):  # the fast path took every line
        assert all(_LINE.match(item) for item in data)
