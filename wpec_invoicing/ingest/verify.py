"""Stage 3: what is wrong with the message, and the proof of origin its invoices inherit.

Nothing here refuses a message: a broken one is kept (the archive has every byte) and says
why. The envelope verdict (signature intact and trusted, really from SdI) travels with each
invoice registered from the message, where `rules.passive.verify` weighs it.
"""

from __future__ import annotations

from typing import Any


def message_problems(pec: Any) -> list[str]:
    """What the message record must say is wrong: unreadable bytes, files cut short."""
    if not pec.readable:
        # Malformed (no header, not MIME…): kept and recorded with why, never retried.
        return ["; ".join(pec.problems) or "unreadable message"]
    # A file cut short is kept as it arrived, and the message says it is incomplete.
    return [a.problem for a in pec.attachments if a.truncated]


def envelope_verdict(pec: Any) -> dict[str, Any] | None:
    """The PEC envelope's signature verdict plus whether SdI really delivered the message
    (certified SdI sender, intact provider signature); None when there is no envelope."""
    signature = getattr(pec, "signature", None)
    if not signature:
        return None
    envelope = signature.to_json()
    sdi = getattr(pec, "sdi", None)
    envelope["sdi_authentic"] = getattr(sdi, "authentic", None)
    envelope["sdi_authentic_reason"] = getattr(sdi, "authentic_reason", None)
    return envelope
