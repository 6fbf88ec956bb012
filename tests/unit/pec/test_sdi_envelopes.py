"""SdI mail as it arrives by PEC: invoice + _MT_ (both XML and p7m), notifications of both
families; the invoice bytes handed over are exactly what the FatturaPA reader takes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wpec_invoicing.cms import sign_attached
from wpec_invoicing.pec import Kind, inspect
from wpec_invoicing.pec import builder as b
from wpec_invoicing.sdi import (
    SdiError,
    SdiNotification,
    build_notification,
    mail_subject,
    notification_file_name,
)

INVOICE_NAME = "IT01234567897_0A1B2.xml"


def _sdi_envelope(pki, sdi_address: str, kind: str, files: list[tuple[str, bytes]]) -> bytes:
    original = b.compose(
        sender=sdi_address, to=["azienda@pec.test"],
        subject=mail_subject(kind, 7339338),
        text="Il file in allegato è stato trasmesso dal Sistema di Interscambio.\n",
        attachments=[(name, data, "application/octet-stream") for name, data in files],
    )
    return b.transport_envelope(original, provider=pki.sdi)


def _metadata(name: str) -> bytes:
    return build_notification(SdiNotification(
        kind="MT", family="b2b", identificativo_sdi="7339338", nome_file=name,
        hash="00" * 32, codice_destinatario="0000000", formato="FPR12", tentativi_invio=1,
        message_id="1441766471",
    ))


@pytest.mark.parametrize("signed", [False, True])
def test_incoming_invoice_is_handed_over_byte_for_byte(pki, signed) -> None:
    from wpec_invoicing import fatturapa  # a plain import: a broken reader fails, not skips
    from wpec_invoicing.fatturapa.samples import sample_invoice

    xml = fatturapa.write_invoice(sample_invoice())
    name = INVOICE_NAME
    data = xml
    if signed:
        data = sign_attached(xml, pki.sha256.signer.key, pki.sha256.signer.cert)
        name = INVOICE_NAME + ".p7m"
    meta_name = notification_file_name(name, "MT", 1)
    raw = _sdi_envelope(pki, "sdi27@pec.fatturapa.it", "invoice",
                        [(name, data), (meta_name, _metadata(name))])
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.POSTA_CERTIFICATA and m.signature.intact and m.signature.trusted
    assert m.sender == "sdi27@pec.fatturapa.it"
    assert m.original_subject == "Invio File 7339338"
    assert m.sdi is not None
    assert m.sdi.kind == "invoice"
    assert m.sdi.invoice_files == (name,)
    assert m.sdi.metadata_file == meta_name
    assert m.sdi.identificativo_sdi == "7339338"
    assert m.sdi.sdi_address == "sdi27@pec.fatturapa.it"
    assert m.sdi.files[name] == data
    report = fatturapa.read_invoice(m.sdi.files[name], file_name=name, trust=pki.trust)
    assert report.readable and report.valid, report.to_json()


@pytest.mark.parametrize(
    ("family", "kind", "extra"),
    [
        ("b2b", "RC", {"data_ora_consegna": datetime(2026, 11, 3, 10, 5, tzinfo=UTC)}),
        ("b2b", "NS", {"errors": (SdiError("00200", "File non conforme al formato"),)}),
        ("b2b", "MC", {"data_messa_a_disposizione": datetime(2026, 11, 3, 10, 5, tzinfo=UTC)}),
        ("pa", "RC", {}),
        ("pa", "NS", {"errors": (SdiError("00102", "File non integro (firma non valida)"),)}),
        ("pa", "MC", {}),
        ("pa", "NE", {"esito": "EC02", "descrizione": "Importo errato"}),
        ("pa", "DT", {}),
        ("pa", "AT", {}),
        ("pa", "SE", {"esito": "EN01"}),
    ],
)
def test_notifications_of_both_families(pki, family, kind, extra) -> None:
    notification = SdiNotification(
        kind=kind, family=family, identificativo_sdi="6782414",
        nome_file=None if kind == "SE" else "IT01234567890_11111.xml.p7m",
        data_ora_ricezione=datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
        if kind in ("RC", "NS", "MC", "AT") else None,
        message_id="1", **extra,
    )
    file_name = notification_file_name("IT01234567890_11111.xml.p7m", kind, 1)
    raw = _sdi_envelope(pki, "sdi03@pec.fatturapa.it", kind,
                        [(file_name, build_notification(notification))])
    m = inspect(raw, trust=pki.trust)
    assert m.sdi is not None
    assert m.sdi.kind == kind
    assert m.sdi.file_name == file_name
    assert m.sdi.identificativo_sdi == "6782414"
    assert m.sdi.sdi_address == "sdi03@pec.fatturapa.it"
    assert m.sdi.notification is not None
    assert m.sdi.notification.family == family
    assert m.sdi.errors == extra.get("errors", ())
    if kind in ("NE", "SE"):
        assert m.sdi.notification.esito == extra["esito"]
    if kind != "SE":
        assert m.sdi.notification.nome_file == "IT01234567890_11111.xml.p7m"


def test_provider_receipts_of_a_send_to_sdi_are_not_sdi_notifications(pki) -> None:
    sent = b.compose(sender="azienda@pec.test", to=["sdi01@pec.fatturapa.it"],
                     subject=INVOICE_NAME, attachments=[(INVOICE_NAME, b"<x/>", "text/xml")])
    receipt = b.avvenuta_consegna(sent, provider=pki.sha256, identificativo="s@pec.test",
                                  consegna="sdi01@pec.fatturapa.it")
    m = inspect(receipt, trust=pki.trust)
    assert m.kind is Kind.AVVENUTA_CONSEGNA
    assert m.sdi is None


# ------------------------------------------------------------------ authenticity (spoofing)

NS_NAME = notification_file_name("IT01234567890_11111.xml.p7m", "NS", 1)


def _ns_file() -> tuple[str, bytes]:
    return NS_NAME, build_notification(SdiNotification(
        kind="NS", family="b2b", identificativo_sdi="6782414",
        nome_file="IT01234567890_11111.xml.p7m",
        data_ora_ricezione=datetime(2026, 11, 3, 10, 0, tzinfo=UTC),
        errors=(SdiError("00200", "File non conforme al formato"),), message_id="1",
    ))


def _strip_signature(raw: bytes) -> bytes:
    """The same envelope with the provider's signature removed (headers + the signed body)."""
    from wpec_invoicing.pec.mime import multipart_ranges, parse_entity

    top = parse_entity(raw)
    start, end = multipart_ranges(top.buf, top.params["boundary"], top.body_start, top.end)[0]
    keep = b"".join(
        f"{name}: {value}\r\n".encode()
        for name in top.headers.names() if name != "content-type"
        for value in top.headers.get_all(name)
    )
    return keep + raw[start:end]


def _not_authentic(m) -> None:
    assert m.sdi is not None and m.sdi.kind == "NS"  # still described, for a human
    assert m.sdi.authentic is False
    assert m.sdi.authentic_reason
    assert any(p.startswith("SdI-looking message NOT authentic") for p in m.problems)
    assert m.to_json()["sdi"]["authentic"] is False


def test_genuine_sdi_envelope_is_authentic(pki) -> None:
    raw = _sdi_envelope(pki, "sdi03@pec.fatturapa.it", "NS", [_ns_file()])
    m = inspect(raw, trust=pki.trust)
    assert m.sdi is not None and m.sdi.authentic is True
    assert "trusted" in (m.sdi.authentic_reason or "")
    assert not any("NOT authentic" in p for p in m.problems)
    assert m.to_json()["sdi"]["authentic"] is True
    # without a trust store: authentic, and the reason says trust was not checked
    unchecked = inspect(raw)
    assert unchecked.sdi is not None and unchecked.sdi.authentic is True
    assert "trust NOT checked" in (unchecked.sdi.authentic_reason or "")


def test_plain_mail_from_an_sdi_address_is_not_authentic(pki) -> None:
    raw = b.compose(sender="sdi03@pec.fatturapa.it", to=["azienda@pec.test"],
                    subject=mail_subject("NS", 6782414), text="x",
                    attachments=[(*_ns_file(), "application/xml")])
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.NON_PEC
    _not_authentic(m)
    assert "not a PEC transport envelope" in m.sdi.authentic_reason


def test_unsigned_envelope_from_sdi_is_not_authentic(pki) -> None:
    signed = _sdi_envelope(pki, "sdi03@pec.fatturapa.it", "NS", [_ns_file()])
    m = inspect(_strip_signature(signed), trust=pki.trust)
    assert m.kind is Kind.POSTA_CERTIFICATA and m.signature.present is False
    _not_authentic(m)
    assert "no provider signature" in m.sdi.authentic_reason


def test_tampered_sdi_envelope_is_not_authentic(pki) -> None:
    raw = _sdi_envelope(pki, "sdi03@pec.fatturapa.it", "NS", [_ns_file()])
    index = raw.index(b"This is a multi-part message")  # a preamble inside the signed part
    tampered = raw[:index] + b"t" + raw[index + 1:]
    m = inspect(tampered, trust=pki.trust)
    assert m.signature.intact is False
    _not_authentic(m)
    assert "not intact" in m.sdi.authentic_reason


def test_sdi_envelope_signed_by_a_self_made_ca_is_not_authentic(pki) -> None:
    original = b.compose(sender="sdi03@pec.fatturapa.it", to=["azienda@pec.test"],
                         subject=mail_subject("NS", 6782414), text="x",
                         attachments=[(*_ns_file(), "application/xml")])
    raw = b.transport_envelope(original, provider=pki.rogue)
    m = inspect(raw, trust=pki.trust)
    assert m.signature.intact is True and m.signature.trusted is False
    _not_authentic(m)
    assert "not trusted" in m.sdi.authentic_reason


def test_genuine_envelope_from_a_non_sdi_sender_is_not_authentic_sdi(pki) -> None:
    """Anyone with a PEC box can mail an NS file: only SdI's certified address counts."""
    original = b.compose(sender="truffatore@pec.test", to=["azienda@pec.test"],
                         subject=mail_subject("NS", 6782414), text="x",
                         attachments=[(*_ns_file(), "application/xml")])
    m = inspect(b.transport_envelope(original, provider=pki.sha256), trust=pki.trust)
    assert m.signature.intact and m.signature.trusted
    _not_authentic(m)
    assert m.sdi.sdi_address is None
    assert "not an sdiNN@pec.fatturapa.it address" in m.sdi.authentic_reason
