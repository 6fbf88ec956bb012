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
    fatturapa = pytest.importorskip("wpec_invoicing.fatturapa")
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
