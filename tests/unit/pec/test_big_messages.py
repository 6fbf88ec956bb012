"""Big messages: a multi-megabyte attachment is reported exactly (size, sha256, bytes, a
verified signature) while inspect holds about one copy of the message, not several."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from wpec_invoicing.pec import Kind, builder, inspect
from wpec_invoicing.pec.message import LAZY_DATA_BYTES


@pytest.fixture(scope="module")
def big(pki):  # type: ignore[no-untyped-def]
    payload = b"%PDF-1.4\n" + os.urandom(6 * 1024 * 1024)
    original = builder.compose(
        sender="azienda@pec.test", to=["cliente@pec.altro.it"], subject="Allegato grande",
        text="In allegato.\n", attachments=[("grande.pdf", payload, "application/pdf")],
    )
    envelope = builder.transport_envelope(original, provider=pki.sha256)
    return payload, original, envelope


def test_big_attachment_is_reported_exactly(big, pki) -> None:  # type: ignore[no-untyped-def]
    payload, original, envelope = big
    m = inspect(envelope, trust=pki.trust)
    assert m.kind is Kind.POSTA_CERTIFICATA and m.signature.intact and m.signature.trusted
    assert m.original == original
    (att,) = m.attachments
    assert len(payload) > LAZY_DATA_BYTES  # the chunked path, not the small-file one
    assert (att.name, att.size, att.sha256) == (
        "grande.pdf", len(payload), hashlib.sha256(payload).hexdigest())
    assert att.data == payload


def test_big_envelope_with_bare_lf_still_verifies(big, pki) -> None:  # type: ignore[no-untyped-def]
    payload, _original, envelope = big
    m = inspect(envelope.replace(b"\r\n", b"\n"), trust=pki.trust)
    assert m.signature.intact and m.attachments[0].sha256 == hashlib.sha256(payload).hexdigest()


def test_one_byte_changed_deep_in_a_big_attachment_breaks_the_signature(big, pki) -> None:  # type: ignore[no-untyped-def]
    _payload, _original, envelope = big
    at = len(envelope) // 2  # inside the attachment's base64 lines
    while not envelope[at:at + 1].isalnum():
        at += 1
    tampered = envelope[:at] + (b"A" if envelope[at:at + 1] != b"A" else b"B") + envelope[at + 1:]
    m = inspect(tampered, trust=pki.trust)
    assert m.signature.present and m.signature.intact is False


def test_inspect_holds_about_one_copy_of_a_big_envelope(big, pki) -> None:  # type: ignore[no-untyped-def]
    """The original (postacert.eml) is one copy; the signed part is checked in place and the
    attachment hashed in chunks. Before: about 7.7x the envelope."""
    _payload, _original, envelope = big
    tracemalloc.start()
    try:
        m = inspect(envelope, trust=pki.trust)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert m.signature.intact
    assert peak < 1.3 * len(envelope), f"peak {peak / len(envelope):.2f}x the envelope"


def test_plain_mail_with_a_big_file_is_not_copied(big) -> None:  # type: ignore[no-untyped-def]
    _payload, original, _envelope = big
    tracemalloc.start()
    try:
        m = inspect(original)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert m.kind is Kind.NON_PEC and m.attachments[0].name == "grande.pdf"
    assert peak < 0.2 * len(original), f"peak {peak / len(original):.2f}x the message"
