"""Fatture emesse: list with state badges, the whole timeline of one (NS codes with their
descriptions), download what went out, its readable copy (PDF, our view or the tax
agency's), upload a corrected file and resend."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import Response

from wpec_invoicing.app import console, render, sent
from wpec_invoicing.web.console.routes.common import (
    download,
    frame,
    parse_day,
    query_without,
    view_style,
)
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)
GROUPS = {"open": list(console.SENT_OPEN), "failed": list(console.SENT_FAILED)}
STATES = ("queued", "sent", "accepted", "delivered-to-sdi", "delivered", "not-delivered",
          "rejected", "not-accepted", "send-failed", "accepted-by-pa", "refused-by-pa",
          "terms-expired")
MAX_UPLOAD = 5 * 1024 * 1024  # an invoice file is at most 5 MB for SdI


@router.get("/fatture-emesse")
def sent_list(ui: Annotated[Ui, Depends(need("viewer"))], state: str = "", q: str = "",
              since: str = "", until: str = "", cursor: str | None = None) -> Response:
    states = GROUPS.get(state) or ([state] if state else None)
    page = sent.list_sent(ui.ctx, states=states, text=q or None,
                          since=parse_day(since, ui.gettext("from")),
                          until=parse_day(until, ui.gettext("to")), cursor=cursor, limit=50)
    return ui.render("sent_list.html", title=ui.gettext("Sent invoices"), page=page,
                     state=state, q=q, since=since, until=until, states=STATES,
                     more=query_without(ui.request.query_params, "cursor"))


@router.get("/fatture-emesse/{item_id}")
def sent_detail(ui: Annotated[Ui, Depends(need("viewer"))], item_id: int,
                style: str = "wpec") -> Response:
    return _detail_page(ui, item_id, style)


def _detail_page(ui: Ui, item_id: int, style: str = "wpec", *,
                 refused: list[str] | None = None, status_code: int = 200) -> Response:
    item = sent.get_sent(ui.ctx, item_id)
    return ui.render("sent_detail.html", status_code=status_code,
                     title=item.file_name or str(item.id), item=item,
                     resendable=item.sdi_state in sent.RESENDABLE, view=view_style(style),
                     refused=refused)


@router.get("/fatture-emesse/{item_id}/pdf")
def sent_pdf(ui: Annotated[Ui, Depends(need("viewer"))], item_id: int,
             style: str = "wpec") -> Response:
    """The readable copy of the invoice sent as PDF (the file embedded)."""
    doc = render.sent_invoice_pdf(ui.ctx, item_id, style=view_style(style))
    return download(doc.content, doc.file_name, doc.media_type)


@router.get("/fatture-emesse/{item_id}/vista")
def sent_view(ui: Annotated[Ui, Depends(need("viewer"))], item_id: int,
              style: str = "wpec") -> Response:
    """The readable copy as HTML, for the sandboxed frame of the detail page."""
    doc = render.sent_invoice_pdf(ui.ctx, item_id, fmt="html", style=view_style(style))
    return frame(doc.content)


@router.get("/fatture-emesse/{item_id}/file")
def sent_download(ui: Annotated[Ui, Depends(need("viewer"))], item_id: int) -> Response:
    f = sent.sent_file(ui.ctx, item_id)
    return download(f.data, f.file_name, f.media_type)


@router.post("/fatture-emesse/{item_id}/reinvio")
async def sent_resend(ui: Annotated[Ui, Depends(need("operator"))], item_id: int,
                      file: Annotated[UploadFile, File()]) -> Response:
    from starlette.concurrency import run_in_threadpool

    from wpec_invoicing.app.errors import InvalidRequest, Rejected

    data = await file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise InvalidRequest(f"{file.filename}: larger than 5 MB, SdI would refuse it")
    try:
        submission = await run_in_threadpool(sent.resend, ui.ctx, item_id, data,
                                             file.filename or "fattura.xml")
    except Rejected as exc:  # the corrected file is not sendable: say why, on the same page
        reasons = [f"{d.get('name', '')}: {reason}" for d in exc.diagnostics
                   for reason in d.get("reasons", [])] or [str(exc)]
        ui.audit("invoice.resend", f"sent/{item_id}", result="refused",
                 detail="; ".join(reasons)[:2000])
        return await run_in_threadpool(_detail_page, ui, item_id, refused=reasons,
                                       status_code=exc.status)
    new_id = submission.items[0].id
    ui.audit("invoice.resend", f"sent/{item_id}", detail=f"replaced by sent/{new_id}")
    return ui.redirect(f"/fatture-emesse/{new_id}", notice="resent")
