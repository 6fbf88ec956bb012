"""A PEC message as a readable HTML document: what `pec.inspect` made of it, presented.

Shown: the header block, the kind in words, the certification data (daticert), the provider
signature's verdict, the body text (an HTML body only after `nh3` has sanitised it: scripts,
event handlers, forms, remote images and styles are dropped), the attachments; for SdI mail,
the notification's outcome with its errors, or the invoice the envelope carries (rendered with
the invoice view). Nothing here parses MIME or XML beyond walking the parts `pec.mime` gives.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nh3

from wpec_invoicing.fatturapa import InvoiceReport, read_invoice
from wpec_invoicing.pec import PecMessage
from wpec_invoicing.pec.mime import Part, parse_entity
from wpec_invoicing.render.codes import describe
from wpec_invoicing.render.invoice import invoice_context
from wpec_invoicing.render.templates import environment, stylesheet

MAX_BODY_CHARS = 200_000  # a body bigger than this is cut (the archive keeps every byte)

# What survives of an HTML body: text structure and tables; no scripts, forms, frames,
# styles or remote resources (an <img> keeps its source only when it is inline `data:`).
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "div", "dl", "dt", "em",
    "font", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "li", "ol", "p", "pre", "q",
    "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "u", "ul",
}
_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "width", "height"},
               "td": {"colspan", "rowspan"}, "th": {"colspan", "rowspan"}}


def _keep_inline_images(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return value if value.startswith("data:image/") else None
    return value


def sanitise_html(html: str) -> str:
    """Markup from a stranger made safe to show and print (nh3, i.e. Rust's ammonia)."""
    return nh3.clean(
        html[:MAX_BODY_CHARS],
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "data"},
        attribute_filter=_keep_inline_images,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


@dataclass(frozen=True)
class Body:
    """The message's own text: plain (shown as is) or HTML (sanitised)."""

    text: str | None
    html: str | None


def _decode(part: Part) -> str:
    data = part.decoded()
    charset = part.params.get("charset", "utf-8") or "utf-8"
    try:
        return data.decode(charset, "replace")
    except LookupError:
        return data.decode("utf-8", "replace")


def message_body(raw: bytes) -> Body:
    """The first text/plain and text/html parts that are not files, without opening enclosed
    messages (a receipt's text is the provider's, not that of the message it certifies)."""
    found: dict[str, str] = {}
    stack: list[tuple[Part, int]] = [(parse_entity(raw), 0)]
    seen = 0
    while stack and seen < 500:
        part, depth = stack.pop(0)
        seen += 1
        if part.is_multipart:
            if depth < 10:
                stack.extend((child, depth + 1) for child in part.children())
            continue
        if part.filename() or part.disposition == "attachment":
            continue
        kind = {"text/plain": "text", "text/html": "html"}.get(part.content_type)
        if kind and kind not in found:
            found[kind] = _decode(part)
    text = found.get("text")
    html = found.get("html")
    return Body(
        text=text[:MAX_BODY_CHARS] if text is not None else None,
        html=sanitise_html(html) if html is not None else None,
    )


def _verdict(value: bool | None, good: str, bad: str, unknown: str) -> dict[str, str]:
    if value is True:
        return {"css": "good", "text": good}
    if value is False:
        return {"css": "bad", "text": bad}
    return {"css": "unknown", "text": unknown}


def carried_invoices(pec: PecMessage, trust: Any = None) -> list[tuple[str, InvoiceReport]]:
    """The invoice files an SdI envelope carries, read with the FatturaPA reader."""
    sdi = pec.sdi
    if sdi is None or sdi.kind != "invoice":
        return []
    files = dict(sdi.files or {})
    return [(name, read_invoice(files[name], file_name=name, trust=trust))
            for name in sdi.invoice_files if name in files]


def message_context(pec: PecMessage, raw: bytes, *, trust: Any = None,
                    show_invoices: bool = True) -> dict[str, Any]:
    """The template values of `message.html.j2`."""
    sig = pec.signature
    body = message_body(pec.original if pec.original is not None else raw)
    invoices = []
    for name, report in carried_invoices(pec, trust) if show_invoices else ():
        if report.document is not None:
            invoices.append(invoice_context(report, file_name=name))
        else:
            invoices.append({"unreadable": f"{name}: {report.error}"})
    sdi = pec.sdi
    notification = sdi.notification if sdi is not None else None
    return {
        "pec": pec,
        "kind_text": describe("TipoMessaggioPEC", pec.kind.value) or pec.kind.value,
        "daticert": pec.daticert,
        "signature": sig,
        "intact": _verdict(sig.intact, "integra", "NON integra", "non verificata"),
        "trusted": _verdict(sig.trusted, "attendibile", "NON attendibile",
                            "attendibilità non verificata"),
        "body": body,
        "sdi": sdi,
        "notification": notification,
        "invoices": invoices,
    }


def message_title(pec: PecMessage) -> str:
    kind = describe("TipoMessaggioPEC", pec.kind.value) or pec.kind.value
    subject = pec.original_subject or pec.subject or "(senza oggetto)"
    return f"{kind}: {subject}"


def message_html(pec: PecMessage, raw: bytes, *, trust: Any = None,
                 show_body: bool = True, show_invoices: bool = True) -> str:
    """The HTML page of one message (raises ValueError when the bytes are no message)."""
    if not pec.readable:
        raise ValueError("; ".join(pec.problems) or "not a readable message")
    return environment().get_template("message.html.j2").render(
        title=message_title(pec), css=stylesheet(), show_body=show_body,
        **message_context(pec, raw, trust=trust, show_invoices=show_invoices))
