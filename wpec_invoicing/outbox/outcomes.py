"""Classify what the provider's SMTP server said about one submission.

WHY a separate, pure module: the difference between "slow down" and "this invoice failed" is the
whole point of unattended sending. PEC providers answer throttling with texts that look like
permanent failures (`550 ... Too much traffic from this sender`, `Sender address rejected: not
logged in`), so the SMTP code alone is not enough: known provider texts win over the code.
Everything here is a value: the sender decides what to do with it.
"""

from __future__ import annotations

import enum
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass


class OutcomeKind(enum.StrEnum):
    ACCEPTED = "accepted"
    THROTTLED = "throttled"  # slow down, retry this item later (backoff + jitter)
    BLOCKED = "blocked"  # the provider blocked us for a while: pause the whole account, retry
    ITEM_FAILED = "item-failed"  # permanent for this message (unknown recipient, too big...)
    ACCOUNT_FAILED = "account-failed"  # permanent for the account (auth, TLS): pause + alert


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    code: int | None = None
    reason: str = ""

    @property
    def retry(self) -> bool:
        """Should the item go back in the queue?"""
        return self.kind in (OutcomeKind.THROTTLED, OutcomeKind.BLOCKED)

    @property
    def slows_down(self) -> bool:
        """Should the account's rate limiter back off?"""
        return self.kind in (OutcomeKind.THROTTLED, OutcomeKind.BLOCKED)


ACCEPTED = Outcome(OutcomeKind.ACCEPTED, 250, "accepted")

# Provider texts seen in the wild that mean "temporary block of this client": pause the account.
_BLOCK_PATTERNS = re.compile(
    r"bloccat[oa] temporaneamente|sospetto abuso|temporarily blocked|temporarily rejected"
    r"|ip .*blocked|blocked for \d+",
    re.IGNORECASE,
)
# Texts that mean "too fast, retry later", whatever the code (Legalmail answers 550 for these).
_THROTTLE_PATTERNS = re.compile(
    r"too much traffic|class of service|not logged in|rate limit|too many (messages|mails|"
    r"connections|recipients per)|try again later|throttl|riprovare più tardi|slow down",
    re.IGNORECASE,
)
# Permanent for the account: the credentials or the sender identity are wrong.
_ACCOUNT_PATTERNS = re.compile(
    r"authentication (failed|credentials invalid|required)|5\.7\.8|invalid credentials"
    r"|sender address (not owned|does not match)|not owned by user|5\.7\.1 .*sender",
    re.IGNORECASE,
)


def _text(message: bytes | str | None) -> str:
    if message is None:
        return ""
    if isinstance(message, bytes):
        return message.decode("utf-8", "replace")
    return str(message)


def classify_reply(code: int | None, message: bytes | str | None = None) -> Outcome:
    """Classify one SMTP reply (code + text) given at any step of a submission."""
    text = _text(message).strip()
    reason = f"{code} {text}".strip() if code is not None else text
    if code is not None and 200 <= code < 300:
        return Outcome(OutcomeKind.ACCEPTED, code, reason or "accepted")
    if _BLOCK_PATTERNS.search(text):
        return Outcome(OutcomeKind.BLOCKED, code, reason)
    if _THROTTLE_PATTERNS.search(text):
        return Outcome(OutcomeKind.THROTTLED, code, reason)
    if code is not None and 400 <= code < 500:
        return Outcome(OutcomeKind.THROTTLED, code, reason)
    if code in (530, 534, 535, 538) or _ACCOUNT_PATTERNS.search(text):
        return Outcome(OutcomeKind.ACCOUNT_FAILED, code, reason)
    if code is not None and code >= 500:
        return Outcome(OutcomeKind.ITEM_FAILED, code, reason)
    # No code at all and no known text: we cannot tell; retrying is the safe side.
    return Outcome(OutcomeKind.THROTTLED, code, reason or "unknown reply")


def classify_exception(exc: BaseException) -> Outcome:
    """Classify an exception raised while connecting, authenticating or submitting."""
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return Outcome(
            OutcomeKind.ACCOUNT_FAILED, exc.smtp_code, f"authentication failed: {_reply(exc)}"
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        # One recipient per message: the (only) refusal decides.
        replies = list(exc.recipients.values())
        if replies:
            code, msg = replies[0]
            outcome = classify_reply(code, msg)
            if outcome.kind is OutcomeKind.ITEM_FAILED:
                return Outcome(outcome.kind, code, f"recipient refused: {outcome.reason}")
            return outcome
        return Outcome(OutcomeKind.ITEM_FAILED, None, "recipient refused")
    if isinstance(exc, smtplib.SMTPSenderRefused):
        outcome = classify_reply(exc.smtp_code, exc.smtp_error)
        if outcome.kind is OutcomeKind.ITEM_FAILED:
            # The sender address is the account's: refusing it is an account problem.
            return Outcome(OutcomeKind.ACCOUNT_FAILED, outcome.code, f"sender refused: "
                           f"{outcome.reason}")
        return outcome
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return Outcome(OutcomeKind.THROTTLED, None, f"connection dropped: {exc}")
    if isinstance(exc, smtplib.SMTPResponseException):
        return classify_reply(exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return Outcome(OutcomeKind.ACCOUNT_FAILED, None, f"server does not support: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Outcome(
            OutcomeKind.ACCOUNT_FAILED, None, f"TLS certificate not trusted: {exc.verify_message}"
        )
    if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError, ssl.SSLError, OSError)):
        return Outcome(OutcomeKind.THROTTLED, None, f"connection problem: {exc}")
    if isinstance(exc, smtplib.SMTPException):
        return Outcome(OutcomeKind.THROTTLED, None, f"SMTP error: {exc}")
    raise exc


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return f"{exc.smtp_code} {_text(exc.smtp_error)}".strip()
