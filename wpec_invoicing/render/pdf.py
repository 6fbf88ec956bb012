"""HTML to PDF with WeasyPrint: offline, PDF/A-3b, the original file attached.

Why these choices:
- The URL fetcher refuses everything but the packaged assets folder (and inline `data:`
  URLs): a page is made from files strangers wrote, so neither a tracking pixel in a mail
  body nor `<img src="file:///etc/passwd">` in a hostile stylesheet's output may reach the
  network or the disk. What was refused is kept on the fetcher, for the caller and the tests.
- PDF/A-3 is the archival PDF that may carry other files: the XML or p7m travels inside the
  human copy, byte for byte (an embedded file is stored as is, the PDF only compresses it
  losslessly), so whoever receives the PDF also holds the legal document.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from weasyprint import CSS, HTML, Attachment
from weasyprint.urls import URLFetcher, URLFetcherResponse

from wpec_invoicing.render.templates import assets_dir

PDF_VARIANT = "pdf/a-3b"

# WeasyPrint logs every refused resource and every unsupported CSS property as a warning;
# the refusals are ours and recorded on the fetcher, the rest is noise on a user's terminal.
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


class AssetsOnlyFetcher(URLFetcher):
    """Serves files from the packaged assets folder and `data:` URLs; refuses the rest."""

    def __init__(self, root: Path | None = None) -> None:
        super().__init__(timeout=1, allowed_protocols=("file", "data"), allow_redirects=False)
        self.root = (root or assets_dir()).resolve()
        self.refused: list[str] = []

    def fetch(self, url: str, headers: dict | None = None) -> URLFetcherResponse:
        if url.startswith("data:"):
            return super().fetch(url, headers)
        if url.startswith("file://"):
            from urllib.parse import unquote, urlsplit

            path = Path(unquote(urlsplit(url).path)).resolve()
            if path.is_relative_to(self.root) and path.is_file():
                return URLFetcherResponse(url, body=path.read_bytes())
        self.refused.append(url[:300])
        raise ValueError(f"resource refused (rendering is offline): {url[:120]}")


@dataclass(frozen=True)
class Original:
    """A file to carry inside the PDF: its name, its exact bytes, a description. (WeasyPrint
    writes the MIME subtype PDF/A-3 asks for from the name: `.xml`, `.p7m`, `.eml`.)"""

    name: str
    data: bytes
    description: str | None = None


def html_to_pdf(html: str, *, originals: tuple[Original, ...] = (),
                variant: str | None = PDF_VARIANT,
                fetcher: AssetsOnlyFetcher | None = None,
                extra_css: tuple[str, ...] = ()) -> bytes:
    """The PDF of `html` (PDF/A-3b by default) with `originals` as embedded files;
    `extra_css` names packaged stylesheets applied on top (e.g. `xsl-print.css`)."""
    fetcher = fetcher or AssetsOnlyFetcher()
    attachments = [
        Attachment(string=o.data, name=o.name, description=o.description or o.name,
                   relationship="Source", url_fetcher=fetcher, base_url=None)
        for o in originals
    ]
    document = HTML(string=html, base_url=fetcher.root.as_uri() + "/", url_fetcher=fetcher)
    stylesheets = [CSS(filename=str(fetcher.root / name), url_fetcher=fetcher)
                   for name in extra_css]
    return document.write_pdf(attachments=attachments, pdf_variant=variant,
                              stylesheets=stylesheets or None)
