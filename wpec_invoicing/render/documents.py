"""One call per thing to render: an invoice file or a PEC message, to HTML or PDF.

These are what `app/render.py`, the CLI and the `print` action call. Errors that mean "this
cannot be rendered at all" (unreadable bytes, `--strict` on an invalid invoice, a broken
stylesheet) are `InputError`s with one clear line; everything else renders, saying what is
wrong inside the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wpec_invoicing.errors import InputError
from wpec_invoicing.fatturapa import InvoiceReport, read_invoice

FORMATS = ("html", "pdf")
STYLES = ("wpec", "ade")


class NotRenderable(InputError):
    """The input cannot be rendered (unreadable, or refused by `strict`). Always one line:
    libxml2's and the MIME parser's reasons may carry line breaks."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class RefusedInvalid(NotRenderable):
    """`strict` and the invoice is not valid: a verdict on the input (exit 1, like
    `wpec invoice validate` on an invalid file), not an unreadable one (exit 2)."""

    exit_code = 1


@dataclass(frozen=True)
class Rendered:
    """A rendered document: its bytes, media type, a suggested file name, what was wrong
    with the input (shown in the document too) and the resources the renderer refused."""

    content: bytes
    media_type: str
    file_name: str
    problems: tuple[str, ...] = ()
    refused: tuple[str, ...] = field(default=())
    valid: bool | None = None


def _stem(name: str | None, default: str) -> str:
    from wpec_invoicing.rules.files import safe_name

    base = safe_name((name or default).replace("\\", "/").rsplit("/", 1)[-1], default)
    for ext in (".p7m", ".xml", ".eml"):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    for ext in (".xml",):
        if base.lower().endswith(ext):
            base = base[: -len(ext)]
    return base or default


def _check(fmt: str) -> None:
    if fmt not in FORMATS:
        raise InputError(f"unknown format {fmt!r} (use: {', '.join(FORMATS)})")


def read_for_render(data: bytes, *, file_name: str | None, strict: bool,
                    trust: Any = None) -> InvoiceReport:
    """Read an invoice as the renderer needs it: strictly first (the band says what SdI
    would refuse); a file only the lenient reader can read is rendered from that reading."""
    report = read_invoice(data, file_name=file_name, trust=trust)
    if report.document is None:
        lenient = read_invoice(data, file_name=file_name, lenient=True, trust=trust)
        if lenient.document is not None:
            # Reading may be lenient, judging may not (as ingest judges a received file):
            # the strict reader's refusal stays the verdict, the repairs become warnings.
            from dataclasses import replace

            from wpec_invoicing.fatturapa import CheckResult

            repairs = tuple(w for w in lenient.warnings if w not in report.warnings)
            report = replace(report, document=lenient.document, format=lenient.format,
                             error=None, warnings=report.warnings + repairs,
                             checks=report.checks or (CheckResult(
                                 "00200", f"file not conforming to the format: {report.error}"),))
    where = file_name or "input"
    if report.document is None:
        raise NotRenderable(f"{where}: not readable as an invoice: {report.error}")
    if strict and not report.valid:
        from wpec_invoicing.render.invoice import problems

        first = (problems(report) or ["not valid"])[0]
        raise RefusedInvalid(f"{where}: not valid, refused (--strict): {first}")
    return report


def render_invoice(data: bytes, *, file_name: str | None = None, fmt: str = "pdf",
                   style: str = "wpec", stylesheet: Path | None = None, strict: bool = False,
                   trust: Any = None) -> Rendered:
    """An invoice file (XML or p7m) as HTML or PDF.

    `style="ade"` uses the tax agency's stylesheet for the file's format, `stylesheet` any
    other XSL; the default is our own view (validation band, code descriptions, it_IT). The
    PDF carries the original bytes as an embedded file."""
    _check(fmt)
    if style not in STYLES:
        raise InputError(f"unknown style {style!r} (use: {', '.join(STYLES)})")
    report = read_for_render(data, file_name=file_name, strict=strict, trust=trust)
    from wpec_invoicing.render.invoice import invoice_html, problems

    if stylesheet is not None or style == "ade":
        from wpec_invoicing.render.xslt import ade_stylesheet, apply_stylesheet

        xsl = stylesheet if stylesheet is not None else ade_stylesheet(report.format)
        html = apply_stylesheet(report.xml or data, xsl)
    else:
        html = invoice_html(report, file_name=file_name, embedded=fmt == "pdf")
    stem = _stem(file_name, "fattura")
    found = tuple(problems(report))
    if fmt == "html":
        return Rendered(html.encode("utf-8"), "text/html; charset=utf-8", f"{stem}.html",
                        found, valid=report.valid)
    from wpec_invoicing.render.pdf import AssetsOnlyFetcher, Original, html_to_pdf

    fetcher = AssetsOnlyFetcher()
    original_name = (file_name or "fattura.xml").replace("\\", "/").rsplit("/", 1)[-1]
    xsl = stylesheet is not None or style == "ade"
    pdf = html_to_pdf(html, fetcher=fetcher,
                      extra_css=("xsl-print.css",) if xsl else (), originals=(
        Original(_safe_attachment_name(original_name), data, "Fattura elettronica originale"),))
    return Rendered(pdf, "application/pdf", f"{stem}.pdf", found, tuple(fetcher.refused),
                    valid=report.valid)


def _safe_attachment_name(name: str) -> str:
    from wpec_invoicing.rules.files import safe_name

    return safe_name(name, "fattura.xml")


def render_message(raw: bytes, *, fmt: str = "pdf", name: str | None = None,
                   trust: Any = None, embed_original: bool = True,
                   show_body: bool = True, show_invoices: bool = True) -> Rendered:
    """A PEC (or plain) message as HTML or PDF; the PDF carries the `.eml` as an embedded
    file. An SdI envelope's invoice is rendered after the message."""
    _check(fmt)
    from wpec_invoicing.pec import inspect
    from wpec_invoicing.render.message import message_html

    pec = inspect(raw, trust=trust)
    if not pec.readable:
        raise NotRenderable(f"{name or 'input'}: not a readable message: "
                            f"{'; '.join(pec.problems)}")
    html = message_html(pec, raw, trust=trust, show_body=show_body,
                        show_invoices=show_invoices)
    stem = _stem(name, "messaggio")
    if fmt == "html":
        return Rendered(html.encode("utf-8"), "text/html; charset=utf-8", f"{stem}.html",
                        pec.problems)
    from wpec_invoicing.render.pdf import AssetsOnlyFetcher, Original, html_to_pdf

    fetcher = AssetsOnlyFetcher()
    originals = (Original(f"{stem}.eml", raw, "Messaggio originale"),) \
        if embed_original else ()
    pdf = html_to_pdf(html, fetcher=fetcher, originals=originals)
    return Rendered(pdf, "application/pdf", f"{stem}.pdf", pec.problems, tuple(fetcher.refused))
