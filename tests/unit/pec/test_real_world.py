"""Hand-written messages with the oddities real providers and relays produce."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta, timezone

import pytest

from wpec_invoicing.pec import Kind, inspect
from wpec_invoicing.pec import builder as b

ARUBA_DATICERT = b"""<?xml version="1.0" encoding="UTF-8"?>
<postacert tipo="avvenuta-consegna" errore="nessuno">
  <intestazione>
    <mittente>sender@pec.example.it</mittente>
    <destinatari tipo="certificato">rcpt@pec.example.it</destinatari>
    <risposte>sender@pec.example.it</risposte>
    <oggetto>IT01234567890_00009.xml</oggetto>
  </intestazione>
  <dati>
    <gestore-emittente>ARUBA PEC S.p.A.</gestore-emittente>
    <data zona="+0100"><giorno>13/11/2018</giorno><ora>16:39:27</ora></data>
    <identificativo>opec288.20181113163926.01838.310.1.63@pec.aruba.it</identificativo>
    <msgid>&lt;1542123565.9215@client.example&gt;</msgid>
    <ricevuta tipo="completa" />
    <consegna>rcpt@pec.example.it</consegna>
  </dati>
</postacert>
"""


def _entity(daticert: bytes | None, *, extra_parts: list[bytes] | None = None) -> bytes:
    parts = [
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: "
        b"quoted-printable\r\n\r\nRicevuta di avvenuta consegna\r\n"
    ]
    if daticert is not None:
        parts.append(
            b'Content-Type: application/xml; name="daticert.xml"\r\n'
            b"Content-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: inline; filename="daticert.xml"\r\n\r\n'
            + base64.encodebytes(daticert).replace(b"\n", b"\r\n")
        )
    parts += extra_parts or []
    body = b"".join(b"--XYZ\r\n" + p + b"\r\n" for p in parts) + b"--XYZ--\r\n"
    return b'Content-Type: multipart/mixed; boundary="XYZ"\r\n\r\n' + body


RECEIPT_HEADERS = [
    ("Date", "Tue, 13 Nov 2018 16:39:27 +0100"),
    ("From", "posta-certificata@pec.aruba.it"),
    ("To", "sender@pec.example.it"),
    ("Subject", "CONSEGNA: IT01234567890_00009.xml"),
    ("Message-ID", "<opec288.20181113163927.31850.22.1.63@pec.aruba.it>"),
    ("X-Riferimento-Message-ID", "<1542123565.9215@client.example>"),
    ("X-Ricevuta", "avvenuta-consegna"),
]


def test_aruba_delivery_receipt(pki) -> None:
    raw = b.sign_entity(RECEIPT_HEADERS, _entity(ARUBA_DATICERT), pki.sha1.signer)
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.AVVENUTA_CONSEGNA
    assert m.signature.intact and m.signature.trusted
    assert m.signature.digest_algorithm == "sha1"
    assert m.identificativo == "opec288.20181113163926.01838.310.1.63@pec.aruba.it"
    assert m.ref_message_id == "<1542123565.9215@client.example>"
    assert m.delivered_to == "rcpt@pec.example.it"
    assert m.provider == "ARUBA PEC S.p.A."
    assert m.timestamp == datetime(2018, 11, 13, 16, 39, 27, tzinfo=timezone(timedelta(hours=1)))
    assert m.receipt_type == "completa"
    assert m.original_subject == "IT01234567890_00009.xml"
    assert m.error == "nessuno"


def test_unescaped_msgid_is_repaired() -> None:
    daticert = ARUBA_DATICERT.replace(
        b"&lt;1542123565.9215@client.example&gt;", b"<1542123565.9215@client.example>"
    )
    raw = b"".join(f"{n}: {v}\r\n".encode() for n, v in RECEIPT_HEADERS) + _entity(daticert)
    m = inspect(raw)
    assert m.ref_message_id == "<1542123565.9215@client.example>"
    assert m.daticert is not None and m.delivered_to == "rcpt@pec.example.it"
    assert any("msgid" in p for p in m.problems)


def test_unreadable_daticert_falls_back_to_the_header() -> None:
    broken = b"<postacert tipo='avvenuta-consegna'><dati><msgid><<<"
    headers = [(n, v) for n, v in RECEIPT_HEADERS if n != "X-Ricevuta"]
    headers.append(("x-ricevuta", "avvenuta-consegna"))
    raw = b"".join(f"{n}: {v}\r\n".encode() for n, v in headers) + _entity(broken)
    m = inspect(raw)
    assert m.kind is Kind.AVVENUTA_CONSEGNA
    assert m.ref_message_id == "<1542123565.9215@client.example>"
    assert m.problems  # says the daticert was broken


def test_stray_text_and_errore_altro() -> None:
    daticert = (
        ARUBA_DATICERT.replace(b"<dati>", b"<dati>\n  testo spurio\n")
        .replace(b'tipo="avvenuta-consegna" errore="nessuno"',
                 b'tipo="errore-consegna" errore="altro"')
        .replace(b"</consegna>", b"</consegna><errore-esteso>5.1.1 - Aruba - utente "
                 b"sconosciuto</errore-esteso>")
    )
    headers = [(n, v) for n, v in RECEIPT_HEADERS if n not in ("X-Ricevuta", "Subject")]
    headers.append(("Subject", "AVVISO DI MANCATA CONSEGNA: prova"))
    raw = b"".join(f"{n}: {v}\r\n".encode() for n, v in headers) + _entity(daticert)
    m = inspect(raw)
    assert m.kind is Kind.ERRORE_CONSEGNA  # from daticert: no X-Ricevuta header here
    assert m.error == "altro"
    assert m.error_detail == "5.1.1 - Aruba - utente sconosciuto"


def test_header_names_are_case_insensitive_and_one_prefix_is_stripped(pki) -> None:
    headers = [
        ("Date", "Tue, 13 Nov 2018 16:39:27 +0100"),
        ("From", "posta-certificata@pec.sogei.it"),
        ("Subject", "CONSEGNA: CONSEGNA: doppio"),
        ("x-RICEVUTA", "avvenuta-consegna"),
        ("X-Tiporicevuta", "sintetica"),
    ]
    raw = b.sign_entity(headers, _entity(None), pki.sha256.signer)
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.AVVENUTA_CONSEGNA
    assert m.receipt_type == "sintetica"
    assert m.original_subject == "CONSEGNA: doppio"
    assert m.signature.intact


def test_subject_alone_is_not_enough_without_pec_evidence() -> None:
    raw = (
        b"From: cliente@example.com\r\nTo: azienda@pec.test\r\nSubject: CONSEGNA: merce\r\n"
        b"Message-ID: <a@b>\r\n\r\nLa merce arriva domani.\r\n"
    )
    m = inspect(raw)
    assert m.kind is Kind.NON_PEC
    assert m.original_subject == "CONSEGNA: merce"
    assert not m.signature.present


def test_subject_decides_when_the_message_is_signed(pki) -> None:
    headers = [("From", "posta-certificata@pec.test"), ("Subject", "ACCETTAZIONE: x")]
    raw = b.sign_entity(headers, _entity(None), pki.sha256.signer)
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.ACCETTAZIONE
    assert "kind taken from the Subject only" in m.problems


def test_anomaly_wrapping_a_bounce_surfaces_the_real_reason(pki) -> None:
    dsn = (
        b"From: MAILER-DAEMON@mx.example.com\r\nTo: azienda@pec.test\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn.1@mx.example.com>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="R"\r\n\r\n'
        b"--R\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--R\r\nContent-Type: message/delivery-status\r\n\r\n"
        b"Reporting-MTA: dns; mx.example.com\r\n\r\n"
        b"Final-Recipient: rfc822; Mario.Rossi@example.com\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 <mario.rossi@example.com>: "
        b"Recipient address rejected:\r\n User unknown\r\n"
        b"--R\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        b"From: azienda@pec.test\r\nSubject: Fattura\r\nMessage-ID: <sent.42@azienda>\r\n"
        b"--R--\r\n"
    )
    raw = b.anomaly_envelope(dsn, provider=pki.sha256, recipient="azienda@pec.test")
    m = inspect(raw, trust=pki.trust)
    assert m.kind is Kind.ANOMALIA
    assert m.bounce is not None
    assert m.bounce.status == "5.1.1"
    assert m.bounce.final_recipient == "mario.rossi@example.com"
    assert m.bounce.original_message_id == "<sent.42@azienda>"
    assert "User unknown" in (m.bounce.diagnostic or "")
    assert m.error == "no-dest"
    assert m.error_detail is not None and m.error_detail.startswith("5.1.1 - 550 5.1.1")


def test_unsigned_receipt_says_signature_absent() -> None:
    raw = b"".join(f"{n}: {v}\r\n".encode() for n, v in RECEIPT_HEADERS) + _entity(ARUBA_DATICERT)
    m = inspect(raw)
    assert m.kind is Kind.AVVENUTA_CONSEGNA
    assert m.signature.present is False and m.signature.intact is None


def test_security_check_failure_is_reported() -> None:
    raw = (
        b"X-Trasporto: posta-certificata\r\nX-VerificaSicurezza: errore\r\nSubject: "
        b"POSTA CERTIFICATA: x\r\n\r\nbody\r\n"
    )
    m = inspect(raw)
    assert m.kind is Kind.POSTA_CERTIFICATA
    assert any("VerificaSicurezza" in p for p in m.problems)
    assert m.error == "altro" and m.error_detail == "X-VerificaSicurezza: errore"


def test_truncated_messages_still_get_a_verdict(pki, original) -> None:
    raw = b.avvenuta_consegna(original, provider=pki.sha256, identificativo="i@pec.test",
                              consegna="cliente@pec.altro.it")
    for cut in (len(raw) // 4, len(raw) // 2, len(raw) - 300, len(raw) - 20):
        m = inspect(raw[:cut], trust=pki.trust)
        assert m.kind in (Kind.AVVENUTA_CONSEGNA, Kind.NON_PEC)
        assert m.signature.intact is not True or cut > len(raw) - 100


def test_hostile_attachment_names_are_made_safe() -> None:
    raw = (
        b"From: a@b.it\r\nSubject: files\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b'--B\r\nContent-Type: application/octet-stream; name="../../etc/passwd"\r\n\r\nx\r\n'
        b'--B\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; '
        b"filename*=utf-8''fattura%20n%C2%B01.pdf\r\n\r\ny\r\n"
        b'--B\r\nContent-Type: application/octet-stream; name="CON"\r\n\r\nz\r\n'
        b'--B\r\nContent-Type: application/octet-stream; name="passwd"\r\n\r\nw\r\n'
        b"--B--\r\n"
    )
    m = inspect(raw)
    assert m.kind is Kind.NON_PEC
    assert [a.name for a in m.attachments] == ["passwd", "fattura n°1.pdf", "_CON", "passwd (2)"]
    assert m.attachments[0].original_name == "../../etc/passwd"


def test_encoded_subject_in_latin1() -> None:
    raw = (
        b"From: a@b.it\r\nSubject: =?iso-8859-1?q?POSTA_CERTIFICATA:_Citt=E0?=\r\n"
        b"X-Trasporto: posta-certificata\r\n\r\nx"
    )
    m = inspect(raw)
    assert m.subject == "POSTA CERTIFICATA: Città"
    assert m.original_subject == "Città"


def test_saved_files_with_mbox_line_and_leading_blank_lines(pki, original) -> None:
    raw = b.accettazione(original, provider=pki.sha256, identificativo="m@pec.test")
    for prefix in (b"From posta-certificata@pec.test Mon Nov 23 13:00:00 2026\r\n", b"\r\n\n"):
        m = inspect(prefix + raw, trust=pki.trust)
        assert m.kind is Kind.ACCETTAZIONE and m.signature.intact


def test_a_p7m_invoice_attached_to_ordinary_mail_is_not_taken_for_s_mime(pki) -> None:
    from wpec_invoicing.cms import sign_attached

    p7m = sign_attached(b"<FatturaElettronica/>", pki.sha256.signer.key, pki.sha256.signer.cert)
    encoded = base64.encodebytes(p7m).replace(b"\n", b"\r\n")
    for ctype in (b"application/pkcs7-mime", b"application/pkcs7-mime; smime-type=signed-data"):
        raw = (  # the .p7m is the first (and only) part, as some invoicing tools send it
            b"From: fornitore@example.com\r\nTo: azienda@pec.test\r\nSubject: Fattura\r\n"
            b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="M"\r\n\r\n'
            b"--M\r\nContent-Type: " + ctype + b'; name="IT01234567897_00001.xml.p7m"\r\n'
            b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--M--\r\n"
        )
        m = inspect(raw, trust=pki.trust)
        assert m.kind is Kind.NON_PEC
        assert not m.list_wrapped and not m.signature.present
        assert [a.name for a in m.attachments] == ["IT01234567897_00001.xml.p7m"]
        assert m.attachments[0].data == p7m


def test_unreadable_daticert_date_falls_back_to_the_date_header() -> None:
    daticert = ARUBA_DATICERT.replace(b"13/11/2018", b"31/13/2018")
    raw = b"".join(f"{n}: {v}\r\n".encode() for n, v in RECEIPT_HEADERS) + _entity(daticert)
    m = inspect(raw)
    assert m.timestamp == datetime(2018, 11, 13, 16, 39, 27, tzinfo=timezone(timedelta(hours=1)))
    assert any("bad date" in p for p in m.problems)


@pytest.mark.parametrize(
    ("data", "looks"),
    [
        (b'<?xml version="1.0"?>\n<p:FatturaElettronica xmlns:p="urn:x"/>', "xml"),
        (b'\xef\xbb\xbf<p:FatturaElettronica xmlns:p="urn:x"/>', "xml"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "html"),
        (b"0\x82\x05\x10\x06\t*\x86H\x86\xf7\r\x01\x07\x02", "p7m"),
        (b"MIIGdwYJKoZIhvcNAQcCoIIGaDCCBmQCAQExDzANBglghkgBZQMEAgEFADCB\r\n", "p7m (base64)"),
        (b"PK\x03\x04\x14\x00\x00\x00", "zip"),
        (b"%PDF-1.7\n%\xe2\xe3", "pdf"),
        (b"\x00\x01\x02 binary", "binary data"),
    ],
)
def test_files_that_are_no_mail_say_what_they_look_like(data: bytes, looks: str) -> None:
    m = inspect(data)
    assert m.kind is Kind.NON_PEC and not m.readable
    assert m.problems == (f"unreadable: not an RFC 5322 message: looks like {looks}",)


def test_a_message_starting_with_a_received_line_is_still_a_message() -> None:
    m = inspect(b"Received: from x\r\nFrom: a@b.it\r\nSubject: 0\x82 x\r\n\r\n<b>hi</b>\r\n")
    assert m.readable and m.problems == () and m.sender == "a@b.it"
