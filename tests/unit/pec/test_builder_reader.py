"""What the builder makes, the reader reads back: every kind, both micalgs, both layouts,
completa / breve / sintetica, opaque and list-wrapped, and the signature verdicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.pec import Kind, inspect
from wpec_invoicing.pec import builder as b
from wpec_invoicing.pec.daticert import Destinatario
from wpec_invoicing.pec.mime import parse_entity

IDENT = "opec288.20261103100000.01838.310.1.63@pec.test"
WHEN = datetime(2026, 11, 3, 10, 0, 5, tzinfo=timezone(timedelta(hours=1)))

RECEIPTS = [
    Kind.ACCETTAZIONE,
    Kind.NON_ACCETTAZIONE,
    Kind.PRESA_IN_CARICO,
    Kind.AVVENUTA_CONSEGNA,
    Kind.ERRORE_CONSEGNA,
    Kind.PREAVVISO_ERRORE_CONSEGNA,
    Kind.RILEVAZIONE_VIRUS,
]


def _receipt(kind: Kind, original: bytes, provider: b.Provider, **kw) -> bytes:
    if kind in (Kind.AVVENUTA_CONSEGNA, Kind.ERRORE_CONSEGNA, Kind.PREAVVISO_ERRORE_CONSEGNA):
        kw.setdefault("consegna", "cliente@pec.altro.it")
    return b.receipt(kind, original, provider=provider, identificativo=IDENT, timestamp=WHEN,
                     **kw)


@pytest.mark.parametrize("digest", ["sha256", "sha1"])
@pytest.mark.parametrize("kind", RECEIPTS)
def test_every_receipt_reads_back_signed_and_correlated(pki, original, kind, digest) -> None:
    provider = pki.sha256 if digest == "sha256" else pki.sha1
    raw = _receipt(kind, original, provider)
    expected_micalg = b"micalg=sha-256" if digest == "sha256" else b"micalg=sha1"
    assert expected_micalg in raw
    m = inspect(raw, trust=pki.trust)
    assert m.kind is kind
    assert m.signature.present and m.signature.intact and m.signature.trusted
    assert m.signature.digest_algorithm == digest
    assert m.signature.signer is not None and "Gestore Test" in m.signature.signer
    assert m.ref_message_id == "<7.1700000000@client.example>"
    assert m.identificativo == IDENT
    assert m.sender == "azienda@pec.test"
    assert m.recipients == ("cliente@pec.altro.it", "copia@pec.altro.it")
    assert m.original_subject == "Fattura n. 7 — novembre"
    assert m.provider == "Gestore Test S.p.A."
    assert m.timestamp == WHEN
    assert m.problems == ()
    if kind in (Kind.AVVENUTA_CONSEGNA, Kind.ERRORE_CONSEGNA, Kind.PREAVVISO_ERRORE_CONSEGNA):
        assert m.delivered_to == "cliente@pec.altro.it"
    else:
        assert m.delivered_to is None


@pytest.mark.parametrize("alternative", [True, False])
def test_transport_envelope_carries_the_original_exactly(pki, original, alternative) -> None:
    raw = b.transport_envelope(original, provider=pki.sha256, identificativo=IDENT,
                               timestamp=WHEN, alternative=alternative)
    assert (b"multipart/alternative" in raw) is alternative
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.POSTA_CERTIFICATA
    assert m.signature.intact and m.signature.trusted
    assert m.original == original
    assert m.message_id == f"<{IDENT}>"
    assert m.identificativo == IDENT
    assert m.ref_message_id == "<7.1700000000@client.example>"
    assert m.sender == "azienda@pec.test"
    assert [a.name for a in m.attachments] == ["IT01234567890_00007.xml", "nota.pdf"]
    xml = m.attachments[0]
    assert xml.data == b"<FatturaElettronica/>" and xml.size == len(xml.data)
    assert xml.content_type == "application/xml"
    import hashlib

    assert xml.sha256 == hashlib.sha256(xml.data).hexdigest()
    head = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert 'From: "Per conto di: azienda@pec.test" <posta-certificata@pec.test>' in head
    assert "Reply-To: azienda@pec.test" in head
    assert "X-Trasporto: posta-certificata" in head


def test_receipt_layouts_completa_breve_sintetica(pki, original) -> None:
    full = inspect(_receipt(Kind.AVVENUTA_CONSEGNA, original, pki.sha256), trust=pki.trust)
    assert full.receipt_type == "completa" and full.original == original
    assert [a.name for a in full.attachments] == ["IT01234567890_00007.xml", "nota.pdf"]

    short = inspect(_receipt(Kind.AVVENUTA_CONSEGNA, original, pki.sha256,
                             receipt_type="breve"), trust=pki.trust)
    assert short.receipt_type == "breve" and short.signature.intact
    assert short.original is not None and b"%PDF-1.4 fake" not in short.original
    assert [a.name for a in short.attachments] == [
        "IT01234567890_00007.xml.hash", "nota.pdf.hash"
    ]

    summary = inspect(_receipt(Kind.AVVENUTA_CONSEGNA, original, pki.sha256,
                               receipt_type="sintetica"), trust=pki.trust)
    assert summary.receipt_type == "sintetica"
    assert summary.original is None and summary.attachments == ()
    assert summary.delivered_to == "cliente@pec.altro.it"


def test_acceptance_and_failures_carry_no_original(pki, original) -> None:
    for kind in (Kind.ACCETTAZIONE, Kind.ERRORE_CONSEGNA, Kind.NON_ACCETTAZIONE):
        m = inspect(_receipt(kind, original, pki.sha256), trust=pki.trust)
        assert m.original is None and m.attachments == ()


def test_delivery_failure_reports_error_and_detail(pki, original) -> None:
    raw = b.errore_consegna(
        original, provider=pki.sha256, identificativo=IDENT, timestamp=WHEN,
        consegna="nessuno@pec.altro.it",
        errore_esteso="5.1.1 - Gestore Test - indirizzo non valido",
    )
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.ERRORE_CONSEGNA
    assert m.error == "no-dest"
    assert m.error_detail == "5.1.1 - Gestore Test - indirizzo non valido"
    assert m.delivered_to == "nessuno@pec.altro.it"


def test_opaque_signature_reads_like_detached(pki, original) -> None:
    raw = _receipt(Kind.ACCETTAZIONE, original, pki.sha256, opaque=True)
    assert b"application/pkcs7-mime" in raw
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.ACCETTAZIONE
    assert m.signature_mode == "opaque"
    assert m.signature.intact and m.signature.trusted
    assert m.identificativo == IDENT


@pytest.mark.parametrize("opaque", [False, True])
def test_list_wrapped_message_still_verifies(pki, original, opaque) -> None:
    raw = b.list_wrap(_receipt(Kind.AVVENUTA_CONSEGNA, original, pki.sha256, opaque=opaque))
    m = inspect(raw, trust=pki.trust)
    assert m.list_wrapped
    assert m.kind is Kind.AVVENUTA_CONSEGNA
    assert m.signature.intact and m.signature.trusted
    assert m.original == original


def test_anomaly_envelope_without_daticert(pki, original) -> None:
    raw = b.anomaly_envelope(original, provider=pki.sha256, identificativo=IDENT,
                             timestamp=WHEN, recipient="azienda@pec.test")
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.ANOMALIA
    assert m.daticert is None
    assert m.original == original
    assert m.sender == "azienda@pec.test"
    assert m.identificativo == IDENT
    assert m.original_subject == "Fattura n. 7 — novembre"
    assert m.signature.intact


def test_trust_is_a_separate_verdict(pki, original) -> None:
    raw = _receipt(Kind.ACCETTAZIONE, original, pki.rogue)
    trusted = inspect(raw, trust=pki.trust).signature
    assert trusted.intact is True and trusted.trusted is False and trusted.reason
    unknown = inspect(raw).signature
    assert unknown.intact is True and unknown.trusted is None


def test_one_flipped_byte_in_the_signed_part_breaks_intact(pki, original) -> None:
    raw = _receipt(Kind.AVVENUTA_CONSEGNA, original, pki.sha256)
    index = raw.index(b"Content-Type: multipart/mixed") + 300
    tampered = bytearray(raw)
    tampered[index] = ord("A") if tampered[index] != ord("A") else ord("B")
    m = inspect(bytes(tampered), trust=pki.trust)
    assert m.signature.present is True
    assert m.signature.intact is False
    assert "does not match the signed sha256 messageDigest" in (m.signature.reason or "")


def _reencode_opaque(raw: bytes, change) -> bytes:
    """The opaque message with its encapsulated content passed through `change` and the
    CMS re-encoded (signature untouched): what a forger editing the content would send."""
    from asn1crypto import cms

    top = parse_entity(raw)
    info = cms.ContentInfo.load(top.decoded())
    encap = info["content"]["encap_content_info"]
    encap["content"] = change(encap["content"].native)
    return raw[: top.body_start] + b._b64(info.dump(force=True))


@pytest.mark.parametrize("where", [0.1, 0.5, 0.9])
def test_one_changed_byte_of_the_opaque_content_breaks_intact(pki, original, where) -> None:
    raw = _receipt(Kind.AVVENUTA_CONSEGNA, original, pki.sha256, opaque=True)
    # control: re-encoding alone keeps the signature intact (the test edits only content)
    same = inspect(_reencode_opaque(raw, lambda c: c), trust=pki.trust)
    assert same.signature.intact is True and same.kind is Kind.AVVENUTA_CONSEGNA

    def flip(content: bytes) -> bytes:
        index = int(len(content) * where)
        return content[:index] + bytes([content[index] ^ 0x01]) + content[index + 1:]

    m = inspect(_reencode_opaque(raw, flip), trust=pki.trust)
    assert m.signature.present is True
    assert m.signature_mode == "opaque"
    assert m.signature.intact is False
    assert "does not match the signed sha256 messageDigest" in (m.signature.reason or "")


def test_signature_of_another_message_is_not_intact(pki, original) -> None:
    one = _receipt(Kind.ACCETTAZIONE, original, pki.sha256)
    two = _receipt(Kind.ACCETTAZIONE, original, pki.sha256, errore_esteso="altro testo")
    sig_one = one[one.index(b'name="smime.p7s"') :]
    sig_two = two[two.index(b'name="smime.p7s"') :]
    swapped = one.replace(sig_one, sig_two.replace(
        two.split(b'boundary="', 1)[1].split(b'"', 1)[0],
        one.split(b'boundary="', 1)[1].split(b'"', 1)[0],
    ))
    m = inspect(swapped, trust=pki.trust)
    assert m.signature.present and m.signature.intact is False


def test_lf_line_endings_still_verify(pki, original) -> None:
    """A message stored with bare LF (e.g. by a Unix mail tool) is judged canonically."""
    raw = _receipt(Kind.ACCETTAZIONE, original, pki.sha256).replace(b"\r\n", b"\n")
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.ACCETTAZIONE and m.signature.intact


# ------------------------------------------------------------------ property: round trip

_addr = st.from_regex(r"[a-z][a-z0-9.]{0,10}@pec\.[a-z]{2,8}\.it", fullmatch=True)
_subject = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="\x85"),
    min_size=1, max_size=80,
).map(str.strip).filter(bool)
_when = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=2))]),
).map(lambda d: d.replace(microsecond=0))


@settings(max_examples=30)
@given(
    kind=st.sampled_from([*RECEIPTS, Kind.POSTA_CERTIFICATA, Kind.ANOMALIA]),
    sender=_addr,
    to=st.lists(_addr, min_size=1, max_size=3, unique=True),
    subject=_subject,
    when=_when,
    receipt_type=st.sampled_from(["completa", "breve", "sintetica"]),
    digest=st.sampled_from(["sha256", "sha1"]),
    alternative=st.booleans(),
    opaque=st.booleans(),
    list_wrapped=st.booleans(),
    with_daticert=st.booleans(),
    errore_esteso=st.none() | st.from_regex(r"[0-9]\.[0-9]\.[0-9] - [A-Za-z ]{0,30}[a-z]",
                                            fullmatch=True),
)
def test_builder_to_reader_round_trip(
    pki, kind, sender, to, subject, when, receipt_type, digest, alternative, opaque,
    list_wrapped, with_daticert, errore_esteso,
) -> None:
    provider = pki.sha256 if digest == "sha256" else pki.sha1
    original = b.compose(sender=sender, to=to, subject=subject, text="x",
                         message_id="<rt.1@client.example>")
    if kind is Kind.POSTA_CERTIFICATA:
        raw = b.transport_envelope(original, provider=provider, identificativo=IDENT,
                                   timestamp=when, alternative=alternative, opaque=opaque)
    elif kind is Kind.ANOMALIA:
        raw = b.anomaly_envelope(original, provider=provider, identificativo=IDENT,
                                 timestamp=when, alternative=alternative, opaque=opaque,
                                 with_daticert=with_daticert,
                                 reason=errore_esteso or "non PEC")
    else:
        raw = b.receipt(kind, original, provider=provider, identificativo=IDENT, timestamp=when,
                        receipt_type=receipt_type, consegna=to[0], alternative=alternative,
                        opaque=opaque, errore_esteso=errore_esteso)
    if list_wrapped:
        raw = b.list_wrap(raw)
    m = inspect(raw, trust=pki.trust)
    assert m.kind is kind
    assert m.list_wrapped is list_wrapped
    assert m.signature_mode == ("opaque" if opaque else "detached")
    assert m.signature.intact and m.signature.trusted
    assert m.subject is not None and m.original_subject == subject
    assert m.sender == sender
    assert m.recipients == tuple(to)
    assert m.timestamp == when and m.timestamp.utcoffset() == when.utcoffset()
    assert m.ref_message_id == "<rt.1@client.example>"
    assert m.identificativo == IDENT
    assert m.problems == ()
    if kind in (Kind.POSTA_CERTIFICATA, Kind.ANOMALIA):
        assert m.original == original
    if kind is Kind.ANOMALIA and not with_daticert:
        assert m.daticert is None
        assert m.error is None
        return
    d = m.daticert
    assert d is not None
    assert d.destinatari == tuple(
        Destinatario(a, "certificato") if kind is Kind.ANOMALIA else Destinatario(a) for a in to
    )
    assert d.oggetto == subject
    if kind is Kind.ANOMALIA:
        assert m.error == "altro"
        assert m.error_detail == (errore_esteso or "non PEC")
    elif kind is not Kind.POSTA_CERTIFICATA:
        assert m.error_detail == errore_esteso
