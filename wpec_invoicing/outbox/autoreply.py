"""The rules' `auto_reply` action: answer a certified message, through the outbox.

WHY so many refusals: an auto-reply that answers a receipt, SdI, a mailing list or another
robot starts a mail loop, and on PEC every message costs receipts in both boxes. So it answers
only `posta-certificata` and `anomalia`, never receipts, SdI, auto-submitted or no-reply
senders, and at most once per sender and subject in a window. The reply is queued in the same
transaction as the message's processing (so a crash cannot answer twice nor forget to answer)
and then sent by `wpec outbox run` with all its throttling and receipts.

    [[rules.kinds.posta-certificata.actions]]
    action = "auto_reply"
    text = "Gentile {sender}, abbiamo ricevuto il suo messaggio \\"{subject}\\"."
    subject = "Re: {subject}"        # optional
    window_hours = 24                # optional: once per sender and subject in this window
"""

from __future__ import annotations

import email
import email.policy
import re
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from wpec_invoicing.rules.actions import ActionContext

ANSWERED_KINDS = ("posta-certificata", "anomalia")
_NO_REPLY = re.compile(
    r"^(no[-_.]?reply|do[-_.]?not[-_.]?reply|mailer[-_.]daemon|postmaster|bounces?|"
    r"posta-certificata|notifiche?|automatic[o]?)([+-].*)?@", re.IGNORECASE)
_SDI = re.compile(r"^sdi\d+@pec\.fatturapa\.it$", re.IGNORECASE)


class _SafeDict(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _headers(raw: bytes | None) -> email.message.Message | None:
    if not raw:
        return None
    try:
        return email.message_from_bytes(raw.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n",
                                        policy=email.policy.compat32)
    except Exception:  # headers we cannot parse: treat as "cannot tell" (no reply)
        return None


def is_automatic(msg: email.message.Message | None) -> bool:
    """RFC 3834 Auto-Submitted, Precedence bulk/list/junk, list mail, known robot headers."""
    if msg is None:
        return False
    auto = (msg.get("Auto-Submitted") or "").strip().lower()
    if auto and auto != "no":
        return True
    if (msg.get("Precedence") or "").strip().lower() in ("bulk", "list", "junk"):
        return True
    return any(msg.get(h) for h in ("List-Id", "List-Unsubscribe", "X-Autoreply",
                                    "X-Autorespond", "X-Auto-Response-Suppress"))


def skip_reason(ctx: ActionContext) -> str | None:
    """Why this message must not be answered (None: answer it)."""
    pec = ctx.pec
    kind = str(getattr(getattr(pec, "kind", None), "value", getattr(pec, "kind", "")))
    if kind not in ANSWERED_KINDS:
        return f"kind {kind} is never answered"
    if getattr(pec, "sdi", None) is not None:
        return "SdI mail is never answered"
    sender = (getattr(pec, "sender", None) or "").strip().lower()
    if not sender or "@" not in sender:
        return "no sender address"
    if _SDI.match(sender):
        return "SdI mail is never answered"
    if _NO_REPLY.match(sender):
        return f"{sender} is a no-reply address"
    for raw in (getattr(pec, "original", None), ctx.raw):
        if is_automatic(_headers(raw)):
            return "auto-submitted message"
    return None


def auto_reply_factory(options: dict[str, Any]):
    text = options.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("auto_reply: 'text' (the reply's body) is required")
    subject_tpl = str(options.get("subject") or "Re: {subject}")
    try:
        window = timedelta(hours=float(options.get("window_hours", 24)))
    except (TypeError, ValueError):
        raise ValueError("auto_reply: window_hours must be a number") from None
    account_name = options.get("account")

    def action(ctx: ActionContext) -> str | None:
        from wpec_invoicing.outbox.queue import Outbox, Refused, dedup_key, utcnow
        from wpec_invoicing.store.outbox_models import OutboxItem

        reason = skip_reason(ctx)
        if reason:
            return f"not answered: {reason}"
        pec = ctx.pec
        sender = pec.sender.strip().lower()
        subject = (getattr(pec, "original_subject", None) or getattr(pec, "subject", None)
                   or "").strip()
        key = dedup_key(sender, subject)
        since = utcnow() - window
        already = ctx.session.scalar(select(OutboxItem.id).where(
            OutboxItem.kind == "auto-reply", OutboxItem.dedup_key == key,
            OutboxItem.created_at >= since).limit(1))
        if already is not None:
            return f"not answered: already answered {sender} about this subject"
        values = _SafeDict(sender=sender, subject=subject)
        outbox = Outbox(ctx.config)
        name = account_name or getattr(ctx.account, "name", None)
        prepared = outbox.prepare_mail(sender, subject_tpl.format_map(values),
                                       text.format_map(values), kind="auto-reply",
                                       dedup_key=key, name=f"auto-reply to {sender}")
        try:
            queued = outbox.enqueue([prepared], account=name, session=ctx.session)
        except Refused as exc:
            return f"not answered: {exc.refusals[0].reasons[0]}"
        return f"reply queued to {sender} (outbox item {queued[0].id})"

    return action

