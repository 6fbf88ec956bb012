"""Each rule of the sandbox PEC provider, on both IMAP servers, read back with the PEC engine
(signatures verified against the sandbox CA)."""

from __future__ import annotations

import smtplib
import time

import pytest

from tests.integration.sandbox.helpers import (
    assert_signed_by_sandbox,
    kinds,
    message,
    new_box,
    read_box,
    send,
    wait_box,
)
from wpec_invoicing.sandbox import Sandbox
from wpec_invoicing.sandbox.provider import EICAR

INVOICE = ("IT01234567897_00007.xml", b"<FatturaElettronica/>", "application/xml")
NOTE = ("nota.pdf", b"%PDF-1.4 sandbox\n", "application/pdf")


def test_accepted_message_gets_envelope_and_receipts(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt1, _ = new_box(sb, "dest")
    rcpt2, _ = new_box(sb, "dest")
    raw = message(sender, [rcpt1], "Fattura di prova", cc=[rcpt2], attachments=[INVOICE])
    send(sb, sender, [rcpt1, rcpt2], raw)

    mine = read_box(sb, sender)
    assert kinds(mine) == ["accettazione", "avvenuta-consegna", "avvenuta-consegna"]
    for m in mine:
        assert_signed_by_sandbox(m)
        assert m.ref_message_id and m.ref_message_id in raw.decode()
    identificativi = {m.identificativo for m in mine}
    assert len(identificativi) == 1  # all receipts of one message share one identificativo
    delivered = sorted(m.delivered_to for m in mine if m.kind == "avvenuta-consegna")
    assert delivered == sorted([rcpt1, rcpt2])
    full = next(m for m in mine if m.kind == "avvenuta-consegna")
    assert full.receipt_type == "completa"
    assert full.original is not None  # completa: the original travels back

    for rcpt in (rcpt1, rcpt2):
        (env,) = read_box(sb, rcpt)
        assert env.kind == "posta-certificata"
        assert_signed_by_sandbox(env)
        assert env.sender == sender
        assert env.subject == "POSTA CERTIFICATA: Fattura di prova"
        assert env.identificativo in identificativi
        assert [a.name for a in env.attachments] == [INVOICE[0]]
        assert env.attachments[0].data == INVOICE[1]


@pytest.mark.parametrize("receipt_type", ["breve", "sintetica"])
def test_receipt_type_follows_x_tiporicevuta(sb: Sandbox, receipt_type: str) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    raw = message(sender, [rcpt], "Tipo ricevuta", attachments=[NOTE],
                  extra_headers=[("X-TipoRicevuta", receipt_type)])
    send(sb, sender, [rcpt], raw, starttls=True)
    receipt = next(m for m in read_box(sb, sender) if m.kind == "avvenuta-consegna")
    assert_signed_by_sandbox(receipt)
    assert receipt.receipt_type == receipt_type
    if receipt_type == "sintetica":
        assert receipt.original is None
    else:  # breve: the original comes back with its files replaced by their hashes
        assert receipt.original is not None
        assert NOTE[1] not in receipt.original
        assert b"nota.pdf.hash" in receipt.original


def _non_acceptance(sb: Sandbox, sender: str) -> object:
    (notice,) = read_box(sb, sender)
    assert notice.kind == "non-accettazione"
    assert_signed_by_sandbox(notice)
    return notice


def test_bcc_is_not_accepted(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    hidden, _ = new_box(sb, "ccn")
    send(sb, sender, [rcpt, hidden], message(sender, [rcpt], "Con Bcc"))
    notice = _non_acceptance(sb, sender)
    assert "Bcc" in (notice.error_detail or "")
    assert read_box(sb, rcpt) == [] and read_box(sb, hidden) == []


def test_size_times_recipients_over_limit_is_not_accepted(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpts = [new_box(sb, "dest")[0] for _ in range(3)]
    raw = message(sender, rcpts, "Grande", attachments=[("dati.bin", b"x" * 20_000,
                                                         "application/octet-stream")])
    sb.set_size_limit(len(raw) * 2)  # one copy fits, three do not
    send(sb, sender, rcpts, raw)
    notice = _non_acceptance(sb, sender)
    assert "limite" in (notice.error_detail or "")
    assert all(read_box(sb, r) == [] for r in rcpts)
    send(sb, sender, rcpts[:1], message(sender, rcpts[:1], "Piccolo"))
    assert kinds(read_box(sb, rcpts[0])) == ["posta-certificata"]


def test_virus_test_marker_is_not_accepted(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    raw = message(sender, [rcpt], "Allegato infetto",
                  attachments=[("eicar.com", EICAR, "application/octet-stream")])
    send(sb, sender, [rcpt], raw)
    notice = _non_acceptance(sb, sender)
    assert notice.daticert.errore == "virus"
    assert read_box(sb, rcpt) == []


def test_sender_must_be_the_authenticated_account(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    other, _ = new_box(sb, "altro")
    rcpt, _ = new_box(sb, "dest")
    # Envelope sender ≠ login: refused at MAIL FROM, as real providers do.
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        send(sb, other, [rcpt], message(other, [rcpt]), login=sender)
    assert info.value.smtp_code == 553
    # From: header ≠ login (envelope right): not accepted, with a notice.
    send(sb, sender, [rcpt], message(other, [rcpt], "From falso"))
    notice = _non_acceptance(sb, sender)
    assert "From" in (notice.error_detail or "")
    assert read_box(sb, rcpt) == []


def test_auth_is_required_and_checked(sb: Sandbox) -> None:
    sender, password = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    ctx = sb.ssl_context()
    with smtplib.SMTP_SSL("127.0.0.1", sb.smtp_implicit_port, context=ctx) as client:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            client.login(sender, password + "x")
        with pytest.raises(smtplib.SMTPSenderRefused) as info:
            client.sendmail(sender, [rcpt], message(sender, [rcpt]))
        assert info.value.smtp_code == 530
    # Submission port: no AUTH before STARTTLS.
    with smtplib.SMTP("127.0.0.1", sb.smtp_starttls_port) as client:
        client.ehlo()
        assert not client.has_extn("auth")
        assert client.has_extn("starttls")


def test_unknown_mailbox_gets_delivery_failure(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    good, _ = new_box(sb, "dest")
    missing = "nessuno-qui@pec.sandbox.test"
    send(sb, sender, [good, missing], message(sender, [good, missing], "Due destinatari"))
    mine = read_box(sb, sender)
    assert kinds(mine) == ["accettazione", "avvenuta-consegna", "errore-consegna"]
    failure = next(m for m in mine if m.kind == "errore-consegna")
    assert_signed_by_sandbox(failure)
    assert failure.delivered_to == missing or failure.daticert.consegna == missing
    assert failure.daticert.errore == "no-dest"
    assert "5.1.1" in (failure.error_detail or "")


def test_full_mailbox_gets_delivery_failure(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    send(sb, sender, [rcpt], message(sender, [rcpt], "Primo"))
    sb.set_quota(rcpt, 1000)  # already over: the next delivery cannot fit
    send(sb, sender, [rcpt], message(sender, [rcpt], "Secondo"))
    failure = [m for m in read_box(sb, sender) if m.kind == "errore-consegna"]
    assert len(failure) == 1
    assert_signed_by_sandbox(failure[0])
    assert "5.2.2" in (failure[0].error_detail or "")
    assert kinds(read_box(sb, rcpt)) == ["posta-certificata"]


def test_stalled_recipient_gets_preavviso_then_delivery_on_release(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    sb.set_preavviso_after(0.3)
    sb.stall(rcpt)
    send(sb, sender, [rcpt], message(sender, [rcpt], "Lento"))
    mine = wait_box(sb, sender, lambda ms: "preavviso-errore-consegna" in kinds(ms))
    assert kinds(mine) == ["accettazione", "preavviso-errore-consegna"]
    preavviso = next(m for m in mine if m.kind == "preavviso-errore-consegna")
    assert_signed_by_sandbox(preavviso)
    assert read_box(sb, rcpt) == []
    assert sb.release(rcpt) == 1
    assert kinds(read_box(sb, rcpt)) == ["posta-certificata"]
    assert "avvenuta-consegna" in kinds(read_box(sb, sender))


def test_stalled_delivery_is_given_up_after_the_maximum_time(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    sb.set_preavviso_after(0.2, then_fail_after=0.2)
    sb.stall(rcpt)
    send(sb, sender, [rcpt], message(sender, [rcpt], "Mai consegnato"))
    mine = wait_box(sb, sender, lambda ms: "errore-consegna" in kinds(ms))
    assert kinds(mine) == ["accettazione", "errore-consegna", "preavviso-errore-consegna"]
    failure = next(m for m in mine if m.kind == "errore-consegna")
    assert_signed_by_sandbox(failure)
    assert "4.4.7" in (failure.error_detail or "")
    assert sb.release(rcpt) == 0  # nothing left to deliver
    assert read_box(sb, rcpt) == []


def test_external_address_gets_acceptance_only(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    send(sb, sender, ["someone@example.com"], message(sender, ["someone@example.com"]))
    (acceptance,) = read_box(sb, sender)
    assert acceptance.kind == "accettazione"
    tipi = {d.address: d.tipo for d in acceptance.daticert.destinatari}
    assert tipi == {"someone@example.com": "esterno"}


def test_ordinary_mail_from_outside_lands_as_anomaly(sb: Sandbox) -> None:
    rcpt, _ = new_box(sb, "dest")
    raw = message("mario.rossi@gmail.example", [rcpt], "Mail normale")
    with smtplib.SMTP("127.0.0.1", sb.smtp_inbound_port) as client:
        client.sendmail("mario.rossi@gmail.example", [rcpt], raw)
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            client.sendmail("mario.rossi@gmail.example", ["ignoto@pec.sandbox.test"], raw)
    (anomaly,) = read_box(sb, rcpt)
    assert anomaly.kind == "anomalia"
    assert_signed_by_sandbox(anomaly)
    assert anomaly.original is not None and b"Mail normale" in anomaly.original


@pytest.mark.parametrize(("style", "code", "text"), [
    ("451", 451, "4.7.1"),
    ("550", 550, "Too much traffic from this sender"),
])
def test_throttling_replies_like_real_providers(sb: Sandbox, style: str, code: int,
                                                text: str) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    sb.set_throttle(sender, messages_per_minute=60, burst=2, style=style)
    send(sb, sender, [rcpt], message(sender, [rcpt], "1"))
    send(sb, sender, [rcpt], message(sender, [rcpt], "2"))
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        send(sb, sender, [rcpt], message(sender, [rcpt], "3"))
    assert info.value.smtp_code == code
    assert text in info.value.smtp_error.decode()
    time.sleep(1.1)  # 60/min: one token per second
    send(sb, sender, [rcpt], message(sender, [rcpt], "4"))
    assert len(read_box(sb, rcpt)) == 3
    sb.set_throttle(sender, None)


def test_throttling_can_block_the_client_temporarily(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    sb.set_throttle(sender, messages_per_minute=1, burst=1, style="block", block_seconds=1)
    send(sb, sender, [rcpt], message(sender, [rcpt], "1"))
    with pytest.raises(smtplib.SMTPSenderRefused) as info:
        send(sb, sender, [rcpt], message(sender, [rcpt], "2"))
    assert info.value.smtp_code == 421
    assert "bloccato" in info.value.smtp_error.decode()
    sb.set_throttle(sender, None)
    with pytest.raises(smtplib.SMTPSenderRefused):  # still blocked, whoever sends
        send(sb, sender, [rcpt], message(sender, [rcpt], "3"))
    time.sleep(1.1)
    send(sb, sender, [rcpt], message(sender, [rcpt], "4"))
    assert len(read_box(sb, rcpt)) == 2


def test_connection_dropped_mid_data_once(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    sb.drop_next_data()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        send(sb, sender, [rcpt], message(sender, [rcpt], "Perso"))
    assert read_box(sb, sender) == [] and read_box(sb, rcpt) == []
    send(sb, sender, [rcpt], message(sender, [rcpt], "Ripetuto"))  # only once
    assert kinds(read_box(sb, rcpt)) == ["posta-certificata"]


def test_long_lines_are_taken_like_a_real_mta(sb: Sandbox) -> None:
    sender, _ = new_box(sb, "mitt")
    rcpt, _ = new_box(sb, "dest")
    xml_on_one_line = "<FatturaElettronica>" + "<Linea>x</Linea>" * 400 + "</FatturaElettronica>"
    raw = (f"From: {sender}\r\nTo: {rcpt}\r\nSubject: riga lunga\r\n"
           "Content-Type: text/plain; charset=utf-8\r\n\r\n" + xml_on_one_line + "\r\n").encode()
    send(sb, sender, [rcpt], raw)
    (env,) = read_box(sb, rcpt)
    assert env.kind == "posta-certificata"
    assert xml_on_one_line.encode() in env.original
