"""`/invoices/received`: the passive cycle."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from wpec_invoicing.app import received, render
from wpec_invoicing.web.api.auth import needs
from wpec_invoicing.web.api.common import (
    RENDERED,
    Cursor,
    Id,
    Limit,
    PageOut,
    RenderFormat,
    RenderStyle,
    actor,
    detail,
    download,
    page,
    rendered,
)

router = APIRouter(prefix="/invoices/received", tags=["received invoices"])


class Decision(BaseModel):
    reason: str | None = Field(default=None, max_length=2000)


class Refusal(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


@router.get("", response_model=PageOut[received.ReceivedSummary], **needs("viewer"))
async def list_received(request: Request,
                  status: received.Status | None = None,
                  supplier: str | None = Query(None, max_length=40,
                                               description="VAT number or codice fiscale"),
                  since: date | None = Query(None, description="invoice date on or after"),
                  until: date | None = Query(None, description="invoice date on or before"),
                  number: str | None = Query(None, max_length=40),
                  q: str | None = Query(None, max_length=200,
                                        description="text in supplier name, number, file"),
                  cursor: str | None = Cursor, limit: int = Limit):
    return page(request, await received.list_received_json(
        request.app.state.ctx, status=status, supplier=supplier, since=since, until=until,
        number=number, text=q, cursor=cursor, limit=limit))


@router.post("/import", response_model=received.ImportOutcome, **needs("integrator", 409))
def import_files(request: Request, files: list[UploadFile] = File(
        ..., description="XML, p7m, zip or eml files")):
    data = [(f.filename or "upload", f.file.read()) for f in files]
    return received.import_files(request.app.state.ctx, data)


@router.get("/{invoice_id}", response_model=received.ReceivedDetail, **needs("viewer", 404))
def get_received(request: Request, invoice_id: Id) -> Response:
    return detail(request, received.get_received(request.app.state.ctx, invoice_id))


@router.get("/{invoice_id}/original", response_class=Response,
            **needs("viewer", 404, binary=("application/xml", "application/pkcs7-mime")))
def original(request: Request, invoice_id: Id) -> Response:
    doc = received.original(request.app.state.ctx, invoice_id)
    return download(doc.data, doc.file_name, doc.media_type)


@router.get("/{invoice_id}/pdf", response_class=Response,
            **needs("viewer", 404, binary=RENDERED))
def pdf(request: Request, invoice_id: Id, fmt: str = RenderFormat,
        style: str = RenderStyle) -> Response:
    """A readable copy: PDF (the original file embedded) or HTML, our view or the agency's."""
    return rendered(render.received_invoice_pdf(request.app.state.ctx, invoice_id,
                                                fmt=fmt, style=style))


@router.post("/{invoice_id}/approve", response_model=received.ReceivedDetail,
             **needs("operator", 404, 409))
def approve(request: Request, invoice_id: Id, body: Decision | None = None):
    return received.decide(request.app.state.ctx, invoice_id, "approved",
                           reason=body.reason if body else None, actor=actor(request))


@router.post("/{invoice_id}/refuse", response_model=received.ReceivedDetail,
             **needs("operator", 404, 409))
def refuse(request: Request, invoice_id: Id, body: Refusal):
    return received.decide(request.app.state.ctx, invoice_id, "refused", reason=body.reason,
                           actor=actor(request))
