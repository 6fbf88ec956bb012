"""`/messages`: the archive of everything that reached the box."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from wpec_invoicing.app import messages, render
from wpec_invoicing.web.api.auth import needs
from wpec_invoicing.web.api.common import (
    RENDERED,
    Cursor,
    Id,
    Limit,
    PageOut,
    RenderFormat,
    detail,
    download,
    page,
    rendered,
)

router = APIRouter(prefix="/messages", tags=["messages"])


class RetryRequest(BaseModel):
    ids: list[int] | None = Field(default=None, max_length=10_000,
                                  description="these messages; null: every failed one")


@router.get("", response_model=PageOut[messages.MessageSummary], **needs("viewer"))
async def list_messages(request: Request,
                  status: str | None = Query(None, pattern="^(archived|processed|error)$"),
                  kind: str | None = Query(None, max_length=40),
                  account: str | None = Query(None, max_length=200),
                  folder: str | None = Query(None, max_length=500),
                  sender: str | None = Query(None, max_length=320),
                  subject: str | None = Query(None, max_length=500),
                  since: date | None = None, until: date | None = None,
                  cursor: str | None = Cursor, limit: int = Limit):
    return page(request, await messages.list_messages_json(
        request.app.state.ctx, status=status, kind=kind, account=account, folder=folder,
        sender=sender, subject=subject, since=since, until=until, cursor=cursor, limit=limit))


@router.post("/retry", response_model=list[messages.RetryResult], **needs("operator", 404))
def retry(request: Request, body: RetryRequest):
    return messages.retry(request.app.state.ctx, body.ids)


@router.get("/{message_id}", response_model=messages.MessageDetail, **needs("viewer", 404))
def get_message(request: Request, message_id: Id) -> Response:
    return detail(request, messages.get_message(request.app.state.ctx, message_id))


@router.get("/{message_id}/raw", response_class=Response,
            **needs("viewer", 404, binary=("message/rfc822",)))
def raw(request: Request, message_id: Id) -> Response:
    blob = messages.raw_message(request.app.state.ctx, message_id)
    return download(blob.data, blob.file_name, blob.media_type)


@router.get("/{message_id}/pdf", response_class=Response,
            **needs("viewer", 404, binary=RENDERED))
def pdf(request: Request, message_id: Id, fmt: str = RenderFormat) -> Response:
    """A readable copy of the message: PDF (the `.eml` embedded) or HTML."""
    return rendered(render.message_pdf(request.app.state.ctx, message_id, fmt=fmt))


@router.get("/{message_id}/attachments/{sha256}", response_class=Response,
            **needs("viewer", 404, binary=("application/octet-stream",)))
def attachment(request: Request, message_id: Id,
               sha256: str = Path(..., pattern="^[0-9a-fA-F]{64}$")) -> Response:
    blob = messages.attachment(request.app.state.ctx, message_id, sha256)
    return download(blob.data, blob.file_name, "application/octet-stream")


@router.post("/{message_id}/retry", response_model=list[messages.RetryResult],
             **needs("operator", 404))
def retry_one(request: Request, message_id: Id):
    return messages.retry(request.app.state.ctx, [message_id])
