"""Outgoing message bytes: one recipient, own Message-ID, no Bcc; progressivo allocation."""

import email

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wpec_invoicing.outbox.compose import build_message, replace_recipient
from wpec_invoicing.outbox.mailmerge import TemplateError, parse_template, render
from wpec_invoicing.outbox.queue import OutboxError, progressivo_for


def test_message_has_one_recipient_its_own_id_and_the_file():
    mid, raw = build_message(sender="a@pec.it", recipient="sdi01@pec.fatturapa.it",
                             subject="IT01234567897_00001.xml", body="Invio",
                             attachments=[("IT01234567897_00001.xml", b"<x/>")],
                             receipt_type="breve")
    msg = email.message_from_bytes(raw)
    assert msg["Message-ID"] == mid and mid.endswith("@pec.it>")
    assert msg.get_all("To") == ["sdi01@pec.fatturapa.it"]
    assert msg["Cc"] is None and msg["Bcc"] is None
    assert msg["X-TipoRicevuta"] == "breve"
    [part] = [p for p in msg.walk() if p.get_filename()]
    assert part.get_content_type() == "application/xml"
    assert part.get_payload(decode=True) == b"<x/>"
    other, _ = build_message(sender="a@pec.it", recipient="b@pec.it", subject="s", body="")
    assert other != mid


def test_lists_of_recipients_are_refused():
    with pytest.raises(ValueError):
        build_message(sender="a@pec.it", recipient="b@pec.it, c@pec.it", subject="s", body="")


def test_replace_recipient_keeps_everything_else():
    mid, raw = build_message(sender="a@pec.it", recipient="sdi01@pec.fatturapa.it",
                             subject="s", body="corpo")
    new = replace_recipient(raw, "sdi27@pec.fatturapa.it")
    msg = email.message_from_bytes(new)
    assert msg["To"] == "sdi27@pec.fatturapa.it" and msg["Message-ID"] == mid
    assert new.replace(b"sdi27", b"sdi01") == raw


def test_progressivo_is_five_base36_chars_and_injective():
    assert progressivo_for(1) == "00001"
    assert progressivo_for(36) == "00010"
    assert progressivo_for(36**5 - 1) == "ZZZZZ"
    with pytest.raises(OutboxError, match="exhausted"):
        progressivo_for(36**5)


@given(st.integers(min_value=0, max_value=36**5 - 1), st.integers(min_value=0,
                                                                  max_value=36**5 - 1))
def test_progressivi_never_collide(a, b):
    assert (progressivo_for(a) == progressivo_for(b)) == (a == b)


def test_template():
    tpl = parse_template("Subject: Per {nome}\n\nCaro {nome},\n{testo}\n")
    assert tpl.fields == {"nome", "testo"}
    assert render(tpl, {"nome": "Anna", "testo": "ciao"}) == ("Per Anna", "Caro Anna,\nciao\n")
    assert render(tpl, {"nome": "Anna"}) == [
        "template uses {testo}, which is not a column of the CSV"]
    with pytest.raises(TemplateError):
        parse_template("no subject line\n\nbody")
