"""Unwrap a PEC message: find the provider's signature and the signed entity inside it, and
the parts of that entity (daticert.xml, postacert.eml, the text), without re-serializing.

Layouts handled:
- detached: `multipart/signed` (first part = signed content, second = smime.p7s);
- opaque: `application/pkcs7-mime; smime-type=signed-data` (content inside the CMS);
- list-wrapped: one more `multipart/mixed` around either of the above (a mailing-list relay);
- unsigned: the message itself is the entity (anomalies from some providers, plain mail).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wpec_invoicing.pec.mime import (
    Part,
    canonical_crlf_range,
    is_crlf_clean,
    multipart_ranges,
    parse_entity,
)

if TYPE_CHECKING:
    from wpec_invoicing.cms import SignatureVerdict, TrustStore

__all__ = ["Unwrapped", "unwrap"]

_SIGNATURE_TYPES = ("application/pkcs7-signature", "application/x-pkcs7-signature")
_OPAQUE_TYPES = ("application/pkcs7-mime", "application/x-pkcs7-mime")
MAX_PARTS = 2000


@dataclass(slots=True)
class Unwrapped:
    """The signed (or, when unsigned, the top) entity and the signature verdict on it."""

    entity: Part
    verdict: SignatureVerdict
    mode: str | None = None  # "detached" | "opaque" | None (unsigned)
    list_wrapped: bool = False
    daticert: Part | None = None
    postacert: Part | None = None
    text: Part | None = None
    html: Part | None = None
    problems: list[str] = field(default_factory=list)


def _is_opaque(part: Part) -> bool:
    if part.content_type not in _OPAQUE_TYPES:
        return False
    smime_type = part.params.get("smime-type", "signed-data").lower()
    return smime_type == "signed-data"


def _verify_detached(part: Part, trust: TrustStore | None, problems: list[str]) -> Unwrapped:
    from wpec_invoicing.cms import SignatureVerdict, verify_detached

    boundary = part.params.get("boundary")
    pieces = multipart_ranges(part.buf, boundary, part.body_start, part.end) if boundary else []
    if not pieces:
        problems.append("multipart/signed without parts")
        return Unwrapped(part, SignatureVerdict.absent(), problems=problems)
    start, end = pieces[0]
    inner = parse_entity(part.buf, start, end)
    signature_part = None
    for piece_start, piece_end in pieces[1:]:
        candidate = parse_entity(part.buf, piece_start, piece_end)
        if candidate.content_type in _SIGNATURE_TYPES or candidate.content_type.endswith(
            "pkcs7-signature"
        ):
            signature_part = candidate
            break
    if signature_part is None:
        problems.append("multipart/signed without a signature part")
        verdict = SignatureVerdict(
            present=False, intact=None, signer=None, signing_time=None, trusted=None,
            reason="multipart/signed without a signature part", digest_algorithm=None,
        )
        return Unwrapped(inner, verdict, problems=problems)
    # The signed bytes exactly as received: a view when they are already canonical (the
    # usual case over IMAP), else one canonical copy, dropped as soon as it is checked.
    content: bytes | memoryview
    if is_crlf_clean(part.buf, start, end):
        content = memoryview(part.buf)[start:end]
    else:
        content = canonical_crlf_range(part.buf, start, end)
    verdict = verify_detached(content, signature_part.decoded(), trust=trust)
    return Unwrapped(inner, verdict, mode="detached", problems=problems)


def _open_opaque(part: Part, trust: TrustStore | None, problems: list[str]) -> Unwrapped:
    from wpec_invoicing.cms import CmsError, SignatureVerdict, open_signed_data

    try:
        content, verdict = open_signed_data(part.decoded(), trust=trust, use="pec")
    except (CmsError, ValueError) as exc:
        problems.append(f"opaque S/MIME not readable: {exc}")
        verdict = SignatureVerdict(
            present=True, intact=False, signer=None, signing_time=None, trusted=None,
            reason=f"not CMS SignedData: {exc}", digest_algorithm=None,
        )
        return Unwrapped(part, verdict, mode="opaque", problems=problems)
    return Unwrapped(parse_entity(content), verdict, mode="opaque", problems=problems)


def _wrapped_body(part: Part) -> bool:
    if part.content_type == "multipart/signed":
        return True
    name = (part.filename() or "smime.p7m").lower()
    explicit = part.params.get("smime-type", "").lower() == "signed-data"
    return _is_opaque(part) and explicit and name == "smime.p7m"


def _signed(part: Part, trust: TrustStore | None, problems: list[str]) -> Unwrapped | None:
    if part.content_type == "multipart/signed":
        return _verify_detached(part, trust, problems)
    if _is_opaque(part):
        return _open_opaque(part, trust, problems)
    return None


def unwrap(top: Part, *, trust: TrustStore | None = None) -> Unwrapped:
    """Locate signature and signed entity, verify, and find the entity's PEC parts."""
    from wpec_invoicing.cms import SignatureVerdict

    problems: list[str] = []
    result = _signed(top, trust, problems)
    if result is None and top.content_type == "multipart/mixed":
        # A list relay puts the signed body first; a .p7m *file* attached to ordinary mail
        # (a signed invoice) is not a wrapped message.
        children = top.children()
        if children and _wrapped_body(children[0]):
            result = _signed(children[0], trust, problems)
            if result is not None:
                result.list_wrapped = True
    if result is None:
        result = Unwrapped(top, SignatureVerdict.absent(), problems=problems)
    _find_parts(result)
    return result


def _find_parts(result: Unwrapped) -> None:
    """daticert.xml, postacert.eml (or, in anomalies, any enclosed message) and the text."""
    entity = result.entity
    stack: list[tuple[Part, int]] = [(entity, 0)]
    enclosed: Part | None = None
    seen = 0
    while stack:
        part, depth = stack.pop(0)
        seen += 1
        if seen > MAX_PARTS:
            result.problems.append("too many MIME parts: stopped looking")
            break
        ctype = part.content_type
        if part.is_multipart:
            if depth < 3:
                stack.extend((child, depth + 1) for child in part.children())
            continue
        name = (part.filename() or "").strip().lower()
        if name == "daticert.xml" and result.daticert is None:
            result.daticert = part
        elif ctype == "message/rfc822":
            if name == "postacert.eml" and result.postacert is None:
                result.postacert = part
            elif enclosed is None:
                enclosed = part
        elif ctype == "text/plain" and result.text is None and not name:
            result.text = part
        elif ctype == "text/html" and result.html is None and not name:
            result.html = part
    if result.postacert is None and enclosed is not None:
        result.postacert = enclosed
