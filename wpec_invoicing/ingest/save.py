"""Carrying out a plan, part 1: the files a rule saves, and the quarantine.

Saved files go where the accounting software picks them up (`rules.save_dir` + the path
template), with safe names (`rules.files`). An attachment the accepted-formats allow-list
refuses is kept in the archive and in the quarantine folder, and recorded with why: never
where the accounting software looks.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from wpec_invoicing.ingest.rule_log import log_rule_action
from wpec_invoicing.rules.files import write_file
from wpec_invoicing.store.models import QuarantinedAttachment

log = logging.getLogger(__name__)


def _header_block(raw: bytes) -> bytes:
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        end = raw.find(b"\n\n")
    return raw if end < 0 else raw[:end]


# A well-formed header line: a name (printable ASCII but ":"), a colon; or a continuation.
_FIELD = re.compile(rb"[\x21-\x39\x3b-\x7e]+:")


def headers(raw: bytes) -> list[list[str]]:
    """The top header fields as [name, value] pairs (only the header block is parsed), as
    the `email` package's compat32 parser gives them (folding kept, the value's leading
    blanks and final line break dropped).

    Why not always that parser: it costs more than the rest of saving a message. A plain
    header block (ASCII, CRLF lines, every line a field or a continuation) is split here
    with the same result; anything else (8-bit bytes, bare LFs, a "From " line, a broken
    line) goes to the parser, which knows every defect."""
    block = _header_block(raw)
    fast = _plain_headers(block)
    if fast is not None:
        return fast
    msg = email.message_from_bytes(block + b"\r\n\r\n", policy=email.policy.compat32)
    return [[name, str(value)] for name, value in msg.items()]


def _plain_headers(block: bytes) -> list[list[str]] | None:
    """`headers` of a plain header block, or None when it is not plain."""
    if not block.isascii() or b"\r" in block.replace(b"\r\n", b"") or \
            b"\n" in block.replace(b"\r\n", b""):
        return None
    fields: list[list[str]] = []
    for line in block.decode("ascii").split("\r\n"):
        if line[:1] in (" ", "\t"):
            if not fields:
                return None
            fields[-1][1] += "\r\n" + line
            continue
        match = _FIELD.match(line.encode("ascii"))
        if match is None:
            return None
        name = line[:match.end() - 1]
        fields.append([name, line[match.end():].lstrip(" \t")])
    return fields


def bodies(raw: bytes) -> dict[str, bytes]:
    """The readable body of a message: text/plain and text/html parts that are not files.

    Walks the MIME tree with the PEC engine's lazy parser: a 50 MB attachment is sliced over,
    never decoded or copied into an `email` object.
    """
    from wpec_invoicing.pec.mime import leaves, parse_entity

    found: dict[str, bytes] = {}
    for part, _depth in leaves(parse_entity(raw), max_depth=10, max_parts=500):
        if part.filename() or part.disposition == "attachment":
            continue
        ext = {"text/plain": "txt", "text/html": "html"}.get(part.content_type)
        if ext is None or ext in found:
            continue
        data = part.decoded()
        charset = part.params.get("charset", "utf-8")
        try:
            text = data.decode(charset, "replace")
        except LookupError:
            text = data.decode("utf-8", "replace")
        found[ext] = text.encode("utf-8")
    return found


def header_json(header: dict[str, Any]) -> bytes:
    """`header.json`'s bytes: the document `json.dumps(indent=2, ensure_ascii=False)` gives,
    written by orjson (the standard library's encoder is pure Python once it indents, and
    cost more than writing the file). What orjson refuses (an integer beyond 64 bits) goes
    the standard way."""
    try:
        return orjson.dumps(header, default=str,
                            option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(header, ensure_ascii=False, indent=2, default=str).encode()


def save_files(ctx: Any, session: Any, msg: Any, pec: Any, raw: bytes,
               plan: Any, *, prepared: Any = None) -> tuple[list[str], int]:
    """Write what the plan saves; (paths saved, attachments quarantined). `prepared`: the
    headers and bodies already split (`ingest.recognise.Prepared`). When a worker already
    wrote the accepted files (`plan.saved`), only the refused attachments are left to do
    (the quarantine writes the database too: it stays here)."""
    if plan.saved is not None:
        saved = list(plan.saved)
    else:
        saved = write_accepted(
            plan, msg.id, msg.sha256, msg.details,
            lambda: prepared.headers if prepared is not None and prepared.headers is not None
            else headers(raw),
            lambda: prepared.bodies if prepared is not None and prepared.bodies is not None
            else bodies(pec.original or raw))
    quarantined = 0
    for att, verdict in plan.attachments:
        if not verdict.accepted:
            quarantine(ctx, session, msg, att, verdict)
            quarantined += 1
    log_rule_action(session, msg.id, "save", target=str(plan.folder),
                    detail=f"{len(saved)} file(s)"
                    + (f", {quarantined} quarantined" if quarantined else ""))
    return saved, quarantined


def write_accepted(plan: Any, message_id: int, sha256: str, details: Any,
                   header_fields: Callable[[], list[list[str]]],
                   found_bodies: Callable[[], dict[str, bytes]]) -> list[str]:
    """The files of the plan that land where the accounting software looks: header.json,
    the bodies, the accepted attachments, in that order; the paths written. The fields and
    bodies are asked for only when the plan saves them."""
    folder: Path = plan.folder
    saved: list[str] = []
    if plan.save_header:
        header = {"store_id": message_id, "sha256": sha256, "kind": plan.kind,
                  "headers": header_fields(), "pec": details}
        saved.append(str(write_file(folder, "header.json", header_json(header))))
    if plan.save_body:
        for ext, data in found_bodies().items():
            saved.append(str(write_file(folder, f"body.{ext}", data)))
    for att, verdict in plan.attachments:
        if verdict.accepted:
            saved.append(str(write_file(folder / "attachments", att.name, att.data)))
    return saved


def save_ahead(config: Any, message_id: int, sha256: str, pec: Any, raw: bytes,
               details: Any) -> Any:
    """In a worker process parsing ahead (`ingest.ahead`): write the files the message's
    rule saves where the accounting software looks, now, and say what was written
    (`rules.plan.SavedAhead`); None when it is not for here to decide: a plugin's document
    type (decided in the classifying process), no date of its own (the save path would use
    when the message was first seen: a database fact), no description, nothing saved.

    Why here: in a first sync the classifying thread is the bottleneck, and writing these
    files (with the save path's rendering and checks, and the formats' sniffing) was a
    fifth of its time, while the worker waits a quarter of its own. Writing them before
    the message's transaction is what the classifying thread does too (files first, then
    the commit that records them); a file written twice is written once (same bytes)."""
    from wpec_invoicing.rules.kinds import effective_rule, rule_kind
    from wpec_invoicing.rules.plan import MessageFacts, SavedAhead, decide

    kind, doctype = rule_kind(pec, raw)
    if doctype is not None or pec.timestamp is None or details is None:
        return None
    if not effective_rule(config, kind).save:
        return None
    facts = MessageFacts(id=message_id, sha256=sha256, kind=kind, when=pec.timestamp,
                         sender=pec.sender, subject=pec.original_subject or pec.subject,
                         attachments=tuple(pec.attachments))
    plan = decide(facts, config)
    paths = write_accepted(plan, message_id, sha256, details, lambda: headers(raw),
                           lambda: bodies(pec.original or raw))
    return SavedAhead(kind=kind, when=facts.when, folder=plan.folder,
                      verdicts=tuple(v for _a, v in plan.attachments), paths=tuple(paths))


def quarantine(ctx: Any, session: Any, msg: Any, att: Any, verdict: Any) -> None:
    digest = ctx.archive.put(att.data)
    write_file(Path(ctx.config.quarantine_dir) / str(msg.id), att.name, att.data)
    session.add(QuarantinedAttachment(
        message_id=msg.id, file_name=att.name, sha256=digest, size=len(att.data),
        declared_type=att.content_type, sniffed_type=verdict.sniffed, reason=verdict.reason))
    log.warning("message %s: attachment %r quarantined: %s", msg.id, att.name, verdict.reason)
