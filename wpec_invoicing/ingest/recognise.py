"""Stage 2: what the message is, and its record described accordingly.

The PEC engine (`pec.inspect`) says what the bytes are (kind, sender, receipts' references,
SdI payload, envelope signature judged against the trust store); the rule kind adds SdI and
plugin document types (`rules.kinds`). The stored record gets the searchable fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from wpec_invoicing.rules.kinds import rule_kind


@dataclass(frozen=True)
class Recognised:
    pec: Any  # wpec_invoicing.pec.PecMessage
    kind: str  # the rule kind
    doctype: Any = None  # the plugin document type that recognised it, if one did


def recognise(raw: bytes, trust: Any, *, parsed: Any = None) -> Recognised:
    """What `raw` is; `parsed`: its `pec.inspect` already done (by `ingest.ahead`)."""
    from wpec_invoicing.pec import inspect

    pec = parsed if parsed is not None else inspect(raw, trust=trust)
    kind, doctype = rule_kind(pec, raw)
    return Recognised(pec, kind, doctype)


def describe(msg: Any, seen: Recognised) -> None:
    """Fill the stored message's fields from what was recognised (cut to the columns)."""
    pec = seen.pec
    msg.kind = seen.kind
    msg.subject = (pec.subject or None) and pec.subject[:2000]
    msg.sender = (pec.sender or None) and pec.sender[:320]
    msg.message_id = (pec.message_id or None) and pec.message_id[:998]
    msg.ref_message_id = (pec.ref_message_id or None) and pec.ref_message_id[:998]
    msg.identificativo = (pec.identificativo or None) and pec.identificativo[:998]
    msg.sent_at = pec.timestamp
    try:
        msg.details = json.loads(json.dumps(pec.to_json(), default=str))
    except Exception as exc:
        msg.details = {"error": f"cannot describe: {exc}"}
