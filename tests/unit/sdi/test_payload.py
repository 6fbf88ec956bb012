"""What an SdI mail carries: an invoice + its _MT_, or one notification; plain mail is not SdI."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.sdi import (
    SdiError,
    SdiNotification,
    build_notification,
    is_sdi_address,
    sdi_payload,
)

MT = build_notification(SdiNotification(
    kind="MT", family="b2b", identificativo_sdi="7339338", nome_file="IT09876543210_0A1B2.xml",
    hash="cd" * 32, codice_destinatario="0000000", formato="FPR12", tentativi_invio=1,
    message_id="99",
))
NS = build_notification(SdiNotification(
    kind="NS", family="b2b", identificativo_sdi="271054871", nome_file="IT01234567890_00007.xml",
    errors=(SdiError("00305", "IdCodice non valido", "Verificare"),), message_id="1",
))


def test_sdi_addresses() -> None:
    assert is_sdi_address("sdi01@pec.fatturapa.it")
    assert is_sdi_address("SDI27@pec.fatturapa.it")
    assert not is_sdi_address("sdi01@pec.fatturapa.it.evil.com")
    assert not is_sdi_address("fornitore@pec.it")
    assert not is_sdi_address(None)


def test_incoming_invoice_with_its_metadata() -> None:
    invoice = b"<p:FatturaElettronica/>"
    payload = sdi_payload("sdi27@pec.fatturapa.it", [
        ("IT09876543210_0A1B2.xml", invoice),
        ("IT09876543210_0A1B2_MT_001.xml", MT),
    ])
    assert payload is not None
    assert payload.kind == "invoice"
    assert payload.file_name == "IT09876543210_0A1B2.xml"
    assert payload.invoice_files == ("IT09876543210_0A1B2.xml",)
    assert payload.metadata_file == "IT09876543210_0A1B2_MT_001.xml"
    assert payload.identificativo_sdi == "7339338"
    assert payload.sdi_address == "sdi27@pec.fatturapa.it"
    assert payload.files["IT09876543210_0A1B2.xml"] == invoice
    assert payload.metadata is not None and payload.metadata.formato == "FPR12"


def test_rejection_carries_the_error_list() -> None:
    payload = sdi_payload("sdi03@pec.fatturapa.it", [("IT01234567890_00007_NS_001.xml", NS)])
    assert payload is not None and payload.kind == "NS"
    assert payload.identificativo_sdi == "271054871"
    assert [(e.code, e.description) for e in payload.errors] == [("00305", "IdCodice non valido")]
    assert payload.to_json()["errors"] == [{"code": "00305", "description": "IdCodice non valido"}]
    assert payload.notification is not None
    assert payload.notification.nome_file == "IT01234567890_00007.xml"


def test_plain_mail_with_an_xml_is_not_sdi() -> None:
    assert sdi_payload("fornitore@pec.it", [("IT01234567890_00007.xml", b"<x/>")]) is None
    assert sdi_payload("fornitore@pec.it", [("preventivo.pdf", b"%PDF")]) is None


def test_notification_forwarded_by_someone_else_is_still_recognised() -> None:
    payload = sdi_payload("collega@pec.it", [("IT01234567890_00007_NS_001.xml", NS)])
    assert payload is not None and payload.kind == "NS" and payload.sdi_address is None


def test_a_broken_notification_is_reported_not_raised() -> None:
    payload = sdi_payload("sdi03@pec.fatturapa.it", [
        ("IT01234567890_00007_RC_001.xml", b"<RicevutaConsegna>"),
        ("IT01234567890_00007_NS_001.xml", NS),
    ])
    assert payload is not None and payload.kind == "NS"
    assert any("RC_001" in p for p in payload.problems)


@settings(max_examples=80)
@given(
    sender=st.none() | st.text(max_size=40),
    files=st.lists(st.tuples(st.text(max_size=40), st.binary(max_size=200)), max_size=4),
)
def test_any_input_gives_a_verdict(sender, files) -> None:
    result = sdi_payload(sender, files)
    assert result is None or result.kind


def test_the_sdi_layer_alone_never_calls_a_payload_authentic() -> None:
    """Only the PEC layer sees the signed envelope: a payload decoded from files is a claim."""
    payload = sdi_payload("sdi03@pec.fatturapa.it", [("IT01234567890_00007_NS_001.xml", NS)])
    assert payload is not None and payload.kind == "NS"
    assert payload.authentic is False and payload.authentic_reason
    assert payload.to_json()["authentic"] is False
