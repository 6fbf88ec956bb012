"""SMTP outcome classification: provider throttling texts must never fail an invoice."""

import smtplib
import ssl

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wpec_invoicing.outbox.outcomes import OutcomeKind, classify_exception, classify_reply


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        (250, "2.0.0 Ok: queued as 1234", OutcomeKind.ACCEPTED),
        (451, "4.7.1 Service unavailable - try again later", OutcomeKind.THROTTLED),
        (421, "4.7.0 Too many connections", OutcomeKind.THROTTLED),
        (
            550,
            '5.7.1 "Class Of Service" - Too much traffic from this sender',
            OutcomeKind.THROTTLED,
        ),
        (554, "5.7.1 <a@pec.it>: Sender address rejected: not logged in", OutcomeKind.THROTTLED),
        (
            550,
            "Indirizzo IP bloccato temporaneamente per sospetto abuso",
            OutcomeKind.BLOCKED,
        ),
        (421, "4.7.0 client temporarily blocked for 30 seconds", OutcomeKind.BLOCKED),
        (550, "5.1.1 <nobody@pec.it>: Recipient address rejected: User unknown",
         OutcomeKind.ITEM_FAILED),
        (552, "5.3.4 Message size exceeds fixed limit", OutcomeKind.ITEM_FAILED),
        (535, "5.7.8 Authentication credentials invalid", OutcomeKind.ACCOUNT_FAILED),
        (530, "5.7.0 Authentication required", OutcomeKind.ACCOUNT_FAILED),
    ],
)
def test_replies(code, text, kind):
    outcome = classify_reply(code, text.encode())
    assert outcome.kind is kind
    assert outcome.code == code
    assert text in outcome.reason or kind is OutcomeKind.ACCEPTED


def test_throttle_outcomes_retry_and_slow_down_others_do_not():
    assert classify_reply(451, "x").retry and classify_reply(451, "x").slows_down
    assert not classify_reply(550, "5.1.1 unknown").retry
    assert not classify_reply(535, "bad").retry


def test_exceptions():
    auth = classify_exception(smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"))
    assert auth.kind is OutcomeKind.ACCOUNT_FAILED and "535" in auth.reason

    unknown = classify_exception(
        smtplib.SMTPRecipientsRefused({"x@pec.it": (550, b"5.1.1 User unknown")})
    )
    assert unknown.kind is OutcomeKind.ITEM_FAILED and "5.1.1" in unknown.reason

    throttled_rcpt = classify_exception(
        smtplib.SMTPRecipientsRefused({"x@pec.it": (450, b"4.2.1 slow down")})
    )
    assert throttled_rcpt.kind is OutcomeKind.THROTTLED

    legalmail = classify_exception(
        smtplib.SMTPDataError(550, b'"Class Of Service" - Too much traffic from this sender')
    )
    assert legalmail.kind is OutcomeKind.THROTTLED

    aruba = classify_exception(
        smtplib.SMTPSenderRefused(553, b"Sender address rejected: not logged in", "a@pec.it")
    )
    assert aruba.kind is OutcomeKind.THROTTLED

    wrong_sender = classify_exception(
        smtplib.SMTPSenderRefused(553, b"5.7.1 sender address not owned by user", "a@pec.it")
    )
    assert wrong_sender.kind is OutcomeKind.ACCOUNT_FAILED

    dropped = classify_exception(smtplib.SMTPServerDisconnected("Connection unexpectedly closed"))
    assert dropped.kind is OutcomeKind.THROTTLED and "dropped" in dropped.reason

    assert classify_exception(ConnectionResetError()).kind is OutcomeKind.THROTTLED
    assert classify_exception(TimeoutError()).kind is OutcomeKind.THROTTLED
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"
    assert classify_exception(cert).kind is OutcomeKind.ACCOUNT_FAILED


def test_programming_errors_are_not_swallowed():
    with pytest.raises(KeyError):
        classify_exception(KeyError("bug"))


@given(code=st.none() | st.integers(min_value=0, max_value=999), text=st.binary(max_size=200))
def test_any_reply_gets_a_verdict(code, text):
    outcome = classify_reply(code, text)
    assert outcome.kind in OutcomeKind
