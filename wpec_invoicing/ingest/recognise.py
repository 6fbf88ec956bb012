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
from wpec_invoicing.store.json_doc import JsonDoc


@dataclass(frozen=True)
class Recognised:
    pec: Any  # wpec_invoicing.pec.PecMessage
    kind: str  # the rule kind
    doctype: Any = None  # the plugin document type that recognised it, if one did
    prepared: Prepared | None = None  # later stages' pure work, done ahead (`ingest.ahead`)


@dataclass(frozen=True)
class Prepared:
    """What later stages compute from the bytes alone, computed with the parse when a worker
    process parses ahead (`ingest.ahead`), so the classifying thread only uses it. Each is
    exactly what the stage would compute itself (a test compares whole syncs)."""

    details: str | None  # describe: the PEC view as JSON text (None: describe computes it)
    headers: list[list[str]] | None  # save: header.json's fields
    bodies: dict[str, bytes] | None  # save: the readable bodies
    reports: dict[str, Any]  # invoice file name -> `rules.passive.read_report`'s verdict
    saved: Any = None  # save: `rules.plan.SavedAhead`, the files already written (or None)


def prepare(pec: Any, raw: bytes, trust: Any, *, config: Any = None,
            message_id: int | None = None, sha256: str | None = None) -> Prepared:
    """The later stages' work for one parsed message, in a worker process: pure, and with
    `config` (and the message's id and digest) the files its rule saves written too
    (`ingest.save.save_ahead`); a failure there leaves them to the classifying thread."""
    from wpec_invoicing.ingest.save import bodies, headers, save_ahead
    from wpec_invoicing.rules.passive import read_report

    try:
        details: JsonDoc | None = _details(pec)
    except Exception:  # describe will meet the same problem and record it
        details = None
    saved = None
    if config is not None and message_id is not None and sha256 is not None:
        try:
            saved = save_ahead(config, message_id, sha256, pec, raw, details)
        except Exception:  # the same failure, met again by the classifying thread, recorded
            saved = None
    reports: dict[str, Any] = {}
    sdi = getattr(pec, "sdi", None)
    if sdi is not None and sdi.invoice_files:
        files = sdi.files or {}
        for name in sdi.invoice_files:
            if files.get(name) is not None:
                reports[name] = read_report(files[name], name, trust)
    if saved is not None or (config is not None and not _saves_text(config, pec, raw)):
        # What the files needed is not needed again (or by no rule): the classifying
        # thread computes it itself if its own decision differs.
        return Prepared(details=_text(details), headers=None, bodies=None, reports=reports,
                        saved=saved)
    return Prepared(details=_text(details), headers=headers(raw),
                    bodies=bodies(pec.original or raw), reports=reports)


def _saves_text(config: Any, pec: Any, raw: bytes) -> bool:
    """Whether the message's rule saves its headers or bodies (a plugin's type: maybe)."""
    from wpec_invoicing.rules.kinds import effective_rule

    kind, doctype = rule_kind(pec, raw)
    if doctype is not None:
        return True
    save = effective_rule(config, kind).save
    return "header" in save or "body" in save


def _details(pec: Any) -> JsonDoc:
    """The record's JSON view of the message (what is stored is exactly its text)."""
    return JsonDoc(json.dumps(pec.to_json(), default=str))


def _text(details: JsonDoc | None) -> str | None:
    """Handed back from a worker as text: pickling the dict, then serialising it again for
    the column, cost the classifying thread three passes over it (`store.json_doc`)."""
    return details.text if details is not None else None


def recognise(raw: bytes, trust: Any, *, parsed: Any = None,
              prepared: Prepared | None = None) -> Recognised:
    """What `raw` is; `parsed`: its `pec.inspect` already done, `prepared` the later stages'
    pure work (both by `ingest.ahead`)."""
    from wpec_invoicing.pec import inspect

    pec = parsed if parsed is not None else inspect(raw, trust=trust)
    kind, doctype = rule_kind(pec, raw)
    return Recognised(pec, kind, doctype, prepared)


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
    ready = seen.prepared.details if seen.prepared is not None else None
    try:
        msg.details = JsonDoc(ready) if ready is not None else _details(pec)
    except Exception as exc:
        msg.details = {"error": f"cannot describe: {exc}"}
