"""Small helpers the page modules share: query parsing, file downloads, sandboxed frames."""

from __future__ import annotations

from datetime import date

from fastapi.responses import HTMLResponse, Response

from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.pec.names import safe_filename

# A sandboxed frame: no script, no remote fetch, no form; only this console may frame it.
FRAME_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox; "
             "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
STYLES = ("wpec", "ade")  # the readable copy of an invoice: our view, the tax agency's


def frame(html: str | bytes) -> HTMLResponse:
    """HTML for an <iframe sandbox> of a detail page, under FRAME_CSP."""
    return HTMLResponse(html, headers={"Content-Security-Policy": FRAME_CSP,
                                       "X-Content-Type-Options": "nosniff",
                                       "Cache-Control": "no-store"})


def view_style(style: str) -> str:
    """The view a detail page shows (anything unknown: ours)."""
    return style if style in STYLES else "wpec"


def parse_day(value: str | None, field: str) -> date | None:
    """A date from an <input type=date> (ISO); empty is None; anything else a clear error."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest(f"{field}: {value!r} is not a date (YYYY-MM-DD)") from exc


def download(data: bytes, file_name: str, media_type: str) -> Response:
    """Bytes as an attachment under a safe name (never rendered by the browser)."""
    from urllib.parse import quote

    name = safe_filename(file_name, "download")
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; "
                               f"filename*=UTF-8''{quote(name)}",
        "X-Content-Type-Options": "nosniff"})


def query_without(params, *drop: str) -> str:
    """The current query string minus some keys (for pagination links)."""
    from urllib.parse import urlencode

    return urlencode([(k, v) for k, v in params.multi_items() if k not in drop and v])
