"""What the routers share: page envelopes with a `next` link, ETags on details, the caller,
downloads."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.datastructures import URL

from wpec_invoicing.app.models import DEFAULT_LIMIT, MAX_LIMIT, JsonPage, Page, list_adapter

T = TypeVar("T")

Limit = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"Page size (1-{MAX_LIMIT}).")
Cursor = Query(None, max_length=500, description="The `next_cursor` of the previous page.")


class PageOut(BaseModel, Generic[T]):
    """A page of results; `next` is the URL of the next page (null on the last)."""

    items: list[T]
    next_cursor: str | None = None
    next: str | None = None


def page(request: Request, result: Page[Any] | JsonPage) -> Response:
    """A page as JSON, serialised once from the app's models, or already serialised by
    the app (`JsonPage`); the route's `response_model` documents it, validating it again
    would only cost time."""
    nxt = next_link(request, result.next_cursor) if result.next_cursor else None
    if isinstance(result, JsonPage):
        items = result.items
    else:
        items = (list_adapter(type(result.items[0])).dump_json(result.items) if result.items
                 else b"[]")
    tail = json.dumps({"next_cursor": result.next_cursor, "next": nxt})[1:]
    return Response(b'{"items":' + items + b"," + tail.encode(),
                    media_type="application/json")


# What `parse_qsl` then `urlencode` give back unchanged: a query of such `name=value` pairs,
# and a cursor of these characters (ours are base64url), need no decoding and encoding.
_PLAIN_QUERY = re.compile(r"(?:[A-Za-z0-9._~-]+=[A-Za-z0-9._~-]*(?:&|$))*")
_PLAIN_CURSOR = re.compile(r"[A-Za-z0-9_-]+")
_BASES: dict[tuple[Any, ...], str] = {}


def next_link(request: Request, cursor: str) -> str:
    """The URL of the next page: this request's URL with `cursor` set, exactly as
    `request.url.include_query_params(cursor=cursor)` writes it.

    Why not just that: its URL parsing, query decoding and re-encoding cost as much as
    writing a whole page of rows. For the usual query (plain `name=value` pairs) the result
    is known without them: the other pairs in their order, then `cursor=...`, after the
    request's base URL (built by Starlette once per host and path). Anything else takes
    Starlette's way; the tests compare the two."""
    scope = request.scope
    query = scope.get("query_string", b"").decode("latin-1")
    if not (_PLAIN_QUERY.fullmatch(query) and _PLAIN_CURSOR.fullmatch(cursor)):
        return str(request.url.include_query_params(cursor=cursor))
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    key = (scope.get("scheme"), scope.get("server"), scope["path"], host)
    base = _BASES.get(key)
    if base is None:
        url = str(URL(scope={**scope, "query_string": b""}).replace(query="Q"))
        if not url.endswith("?Q"):
            return str(request.url.include_query_params(cursor=cursor))
        if len(_BASES) > 256:  # hosts come from clients: keep the memory bounded
            _BASES.clear()
        base = _BASES[key] = url[:-1]
    kept = [pair for pair in query.split("&") if pair and not pair.startswith("cursor=")]
    kept.append(f"cursor={cursor}")
    return base + "&".join(kept)


def detail(request: Request, model: BaseModel) -> Response:
    """A JSON detail with a strong ETag; `If-None-Match` with it → 304 Not Modified."""
    body = model.model_dump_json().encode()
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    match = request.headers.get("if-none-match")
    if match and etag in [m.strip() for m in match.split(",")]:
        return Response(status_code=304, headers={"ETag": etag})
    return Response(body, media_type="application/json", headers={"ETag": etag})


def actor(request: Request) -> str:
    caller = getattr(request.state, "caller", None)
    return caller.actor if caller is not None else "anonymous"


def download(data: bytes, file_name: str, media_type: str) -> Response:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in file_name) or "file"
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{safe}"',
        "X-Content-Type-Options": "nosniff"})


RenderFormat = Query("pdf", alias="format", pattern="^(pdf|html)$",
                     description="`pdf` (the original embedded) or `html`.")
RenderStyle = Query("wpec", pattern="^(wpec|ade)$",
                    description="`wpec`: our view; `ade`: the tax agency's stylesheet.")
RENDERED = ("application/pdf", "text/html")


def rendered(doc: Any) -> Response:
    """A readable copy (`app.render.RenderedDocument`) as a download."""
    return download(doc.content, doc.file_name, doc.media_type)


def created(model: BaseModel) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"), status_code=201)


# Ids are 32-bit in the store (PostgreSQL INTEGER): a larger number cannot name anything.
Id = Annotated[int, Path(ge=1, le=2**31 - 1, description="The id.")]
