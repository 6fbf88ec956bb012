"""`/invoices/sent`: the active cycle (submit, follow, resend)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from wpec_invoicing.app import render, sent
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.web.api.auth import needs
from wpec_invoicing.web.api.common import (
    RENDERED,
    Cursor,
    Id,
    Limit,
    PageOut,
    RenderFormat,
    RenderStyle,
    created,
    detail,
    download,
    page,
    rendered,
)

router = APIRouter(prefix="/invoices/sent", tags=["sent invoices"])

FILE_TYPES = ("application/xml", "text/xml", "application/pkcs7-mime",
              "application/octet-stream")
_BINARY = {"schema": {"type": "string", "format": "binary"}}
SUBMIT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"type": "object", "description":
                         "invoice data, as `wpec invoice create --from FILE.json` takes"}},
    **{t: _BINARY for t in FILE_TYPES},
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"}}}},
}}}
FILE_BODY = {"requestBody": {"required": True, "content": {
    **{t: _BINARY for t in FILE_TYPES},
    "multipart/form-data": SUBMIT_BODY["requestBody"]["content"]["multipart/form-data"]}}}


async def _file(request: Request, file_name: str | None) -> tuple[bytes, str]:
    """The uploaded FatturaPA file (raw body or multipart `file`) and its name."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidRequest("multipart: a part named `file` with the invoice is needed")
        return await upload.read(), file_name or upload.filename or ""
    if ctype not in FILE_TYPES:
        raise InvalidRequest(f"content type {ctype or '(none)'}: send the file as "
                             f"{', '.join(FILE_TYPES)} or multipart/form-data")
    if not file_name:
        raise InvalidRequest("say the file's name: ?file_name=IT01234567890_00001.xml")
    return await request.body(), file_name


@router.post("", status_code=201, response_model=sent.Submission,
             **needs("integrator", 409, 413, 503, body=SUBMIT_BODY))
async def submit(request: Request, file_name: str | None = Query(None, max_length=120),
                 account: str | None = Query(None, max_length=200)):
    """A FatturaPA file (validated, then queued) or invoice data (numbered, written,
    validated, queued). 422 with the diagnostics of `wpec invoice validate --json`."""
    ctx = request.app.state.ctx
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        text = (await request.body()).decode("utf-8-sig", errors="replace")
        result = await run_in_threadpool(sent.submit_data, ctx, text, account=account)
    else:
        data, name = await _file(request, file_name)
        result = await run_in_threadpool(sent.submit_file, ctx, data, name, account=account)
    return created(result)


@router.get("", response_model=PageOut[sent.SentSummary], **needs("viewer"))
async def list_sent(request: Request,
              state: list[str] | None = Query(None, description="SdI state, queue status or "
                                              "provider state (repeatable)"),
              kind: str | None = Query("invoice", description="invoice, mail, auto-reply"),
              since: date | None = None, until: date | None = None,
              q: str | None = Query(None, max_length=200),
              cursor: str | None = Cursor, limit: int = Limit):
    return page(request, await sent.list_sent_json(
        request.app.state.ctx, states=state, kind=kind, since=since, until=until, text=q,
        cursor=cursor, limit=limit))


@router.get("/{item_id}", response_model=sent.SentDetail, **needs("viewer", 404))
def get_sent(request: Request, item_id: Id) -> Response:
    """With the whole timeline; each receipt's raw message is `messages/{message_id}/raw`."""
    return detail(request, sent.get_sent(request.app.state.ctx, item_id))


@router.get("/{item_id}/file", response_class=Response,
            **needs("viewer", 404, binary=("application/xml", "application/pkcs7-mime")))
def sent_file(request: Request, item_id: Id) -> Response:
    f = sent.sent_file(request.app.state.ctx, item_id)
    return download(f.data, f.file_name, f.media_type)


@router.get("/{item_id}/message", response_class=Response,
            **needs("viewer", 404, binary=("message/rfc822",)))
def sent_message(request: Request, item_id: Id) -> Response:
    return download(sent.sent_message(request.app.state.ctx, item_id),
                    f"sent-{item_id}.eml", "message/rfc822")


@router.get("/{item_id}/pdf", response_class=Response,
            **needs("viewer", 404, binary=RENDERED))
def pdf(request: Request, item_id: Id, fmt: str = RenderFormat,
        style: str = RenderStyle) -> Response:
    """A readable copy of the invoice sent: PDF (the file embedded) or HTML, our view or the
    agency's."""
    return rendered(render.sent_invoice_pdf(request.app.state.ctx, item_id, fmt=fmt,
                                            style=style))


@router.post("/{item_id}/resend", status_code=201, response_model=sent.Submission,
             **needs("integrator", 404, 409, 413, 503, body=FILE_BODY))
async def resend(request: Request, item_id: Id,
                 file_name: str | None = Query(None, max_length=120)):
    """The corrected file of a rejected invoice (its history links the two)."""
    data, name = await _file(request, file_name)
    result = await run_in_threadpool(sent.resend, request.app.state.ctx, item_id, data, name)
    return created(result)
