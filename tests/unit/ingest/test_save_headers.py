"""The saved `header.json` lists the top header fields exactly as the `email` package's
compat32 parser reads them, whether the block took the fast split or the parser."""

from __future__ import annotations

import email
import email.policy

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.integration.ingest.factory import Factory
from wpec_invoicing.ingest.save import _header_block, _plain_headers, headers


def _parser(raw: bytes) -> list[list[str]]:
    msg = email.message_from_bytes(_header_block(raw) + b"\r\n\r\n",
                                   policy=email.policy.compat32)
    return [[name, str(value)] for name, value in msg.items()]


ODD = [
    b"Subject: a\r\n  folded\r\n\tmore\r\nX-Empty:\r\nX-Sp:   lead  \r\n\r\nbody",
    b"", b"\r\n\r\n", b"From me@example.com Mon Nov 23\r\nSubject: y\r\n\r\n",
    b"Subject: \xc3\xa8\r\n\r\n", b"Subject: a\nTo: b\n\nbody", b" lead: x\r\nA: b\r\n\r\n",
    b":noname\r\nA: b\r\n\r\n", b"A:b\r\nB :c\r\n\r\n", b"A: b\r\nnot a header\r\nC: d\r\n\r\n",
    b"A: b\r\n \r\nC: d\r\n\r\n", b"A: b\r\nC: d\r\n", b"A: b\rC: d\r\n\r\n",
]


def test_every_kind_of_pec_message_and_odd_blocks_read_as_the_parser_reads_them() -> None:
    raws = Factory().mixed(14)
    assert all(_plain_headers(_header_block(raw)) is not None for raw in raws)  # fast path
    for raw in [*raws, *ODD]:
        assert headers(raw) == _parser(raw), raw[:300]


_name = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=":"),
                min_size=1, max_size=12)
_value = st.text(st.characters(min_codepoint=0x01, max_codepoint=0xFF,
                               blacklist_characters="\r\n"), max_size=30)
_line_end = st.sampled_from(["\r\n", "\n", "\r\n", "\r\n"])


@given(st.lists(st.tuples(_name, st.sampled_from(["", " ", "  ", "\t"]), _value,
                          st.lists(st.tuples(st.sampled_from([" ", "\t"]), _value), max_size=2),
                          _line_end), max_size=6))
def test_generated_header_blocks_read_as_the_parser_reads_them(fields) -> None:
    text = ""
    for name, gap, value, folds, end in fields:
        text += f"{name}:{gap}{value}{end}"
        for blank, more in folds:
            text += f"{blank}{more}{end}"
    raw = text.encode("latin-1") + b"\r\nbody"
    assert headers(raw) == _parser(raw)


_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**80), max_value=2**80)
    | st.text() | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner,
                                                                  max_size=5),
    max_leaves=30)


@given(st.dictionaries(st.text(max_size=12), _JSONISH, max_size=6))
@settings(max_examples=300, deadline=None)
def test_header_json_is_the_document_the_standard_encoder_writes(header) -> None:
    """header.json is written by orjson: the accounting software must read the very same
    document json.dumps(indent=2, ensure_ascii=False) gave (big integers included)."""
    import json

    from wpec_invoicing.ingest.save import header_json

    try:
        expected = json.dumps(header, ensure_ascii=False, indent=2, default=str).encode()
    except UnicodeEncodeError:  # lone surrogates: neither way can write them
        return
    ours = header_json(header)
    assert json.loads(ours) == json.loads(expected)
    assert ours.decode("utf-8").count("\n") == expected.decode("utf-8").count("\n")
