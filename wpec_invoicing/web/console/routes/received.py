"""Fatture ricevute: search (words or an amount), totals of the selection, detail, approve
or refuse (one or many), the original file, the readable copy (PDF, our view or the
tax agency's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from wpec_invoicing.app import console, received, render
from wpec_invoicing.app.errors import AppError
from wpec_invoicing.web.console.i18n import parse_amount
from wpec_invoicing.web.console.routes.common import (
    download,
    frame,
    parse_day,
    query_without,
    view_style,
)
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)
PAGE = 50


@router.get("/fatture-ricevute")
def received_list(ui: Annotated[Ui, Depends(need("viewer"))], q: str = "", status: str = "",
                  supplier: str = "", since: str = "", until: str = "",
                  cursor: str | None = None) -> Response:
    amount = parse_amount(q, ui.language) if q else None
    selection = console.search_received(
        ui.ctx, status=status or None, supplier_vat=supplier or None,
        since=parse_day(since, ui.gettext("from")), until=parse_day(until, ui.gettext("to")),
        text=None if amount is not None else q, amount=amount, cursor=cursor, limit=PAGE)
    return ui.render("received_list.html", title=ui.gettext("Received invoices"),
                     sel=selection, q=q, status=status, supplier=supplier, since=since,
                     until=until, amount=amount, statuses=received.STATUSES,
                     more=query_without(ui.request.query_params, "cursor"))


@router.get("/fatture-ricevute/{invoice_id}")
def received_detail(ui: Annotated[Ui, Depends(need("viewer"))], invoice_id: int,
                    style: str = "wpec") -> Response:
    inv = received.get_received(ui.ctx, invoice_id)
    return ui.render("received_detail.html", title=f"{inv.supplier_name or ''} {inv.number or ''}",
                     inv=inv, view=view_style(style),
                     attachments=console.invoice_attachments(ui.ctx, invoice_id))


@router.get("/fatture-ricevute/{invoice_id}/allegati/{index}")
def received_attachment(ui: Annotated[Ui, Depends(need("viewer"))], invoice_id: int,
                        index: int, inline: bool = False) -> Response:
    """An embedded attachment: PDFs and images inline (for the sandboxed preview) when asked,
    anything else always as a download."""
    item = received.attachment(ui.ctx, invoice_id, index)
    response = download(item.data, item.file_name, item.media_type)
    if inline and (item.media_type == "application/pdf" or item.media_type.startswith("image/")):
        response.headers["Content-Disposition"] = response.headers[
            "Content-Disposition"].replace("attachment;", "inline;", 1)
        response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


@router.get("/fatture-ricevute/{invoice_id}/pdf")
def received_pdf(ui: Annotated[Ui, Depends(need("viewer"))], invoice_id: int,
                 style: str = "wpec") -> Response:
    """The readable copy as PDF (the original file embedded), our view or the agency's."""
    doc = render.received_invoice_pdf(ui.ctx, invoice_id, style=view_style(style))
    return download(doc.content, doc.file_name, doc.media_type)


@router.get("/fatture-ricevute/{invoice_id}/vista")
def received_view(ui: Annotated[Ui, Depends(need("viewer"))], invoice_id: int,
                  style: str = "wpec") -> Response:
    """The readable copy as HTML, for the sandboxed frame of the detail page."""
    doc = render.received_invoice_pdf(ui.ctx, invoice_id, fmt="html", style=view_style(style))
    return frame(doc.content)


@router.get("/fatture-ricevute/{invoice_id}/originale")
def received_original(ui: Annotated[Ui, Depends(need("viewer"))], invoice_id: int) -> Response:
    original = received.original(ui.ctx, invoice_id)
    return download(original.data, original.file_name, original.media_type)


@router.post("/fatture-ricevute/{invoice_id}/decisione")
def received_decide(ui: Annotated[Ui, Depends(need("operator"))], invoice_id: int,
                    decision: Annotated[str, Form()], reason: Annotated[str, Form()] = ""
                    ) -> Response:
    received.decide(ui.ctx, invoice_id, decision, reason=reason, actor=ui.actor)  # type: ignore[arg-type]
    ui.audit(f"invoice.{decision}", f"received/{invoice_id}", detail=reason or None)
    return ui.redirect(f"/fatture-ricevute/{invoice_id}",
                       notice="approved" if decision == "approved" else "refused")


@router.post("/fatture-ricevute/decisioni")
def received_bulk(ui: Annotated[Ui, Depends(need("operator"))],
                  decision: Annotated[str, Form()],
                  ids: Annotated[list[int] | None, Form()] = None,
                  reason: Annotated[str, Form()] = "") -> Response:
    """The same decision on several invoices; one that cannot take it (already decided,
    gone) is reported and does not stop the others."""
    from wpec_invoicing.app.errors import InvalidRequest

    if not ids:
        raise InvalidRequest(ui.gettext("Select at least one invoice."))
    outcomes = []
    for invoice_id in ids[:500]:
        try:
            inv = received.decide(ui.ctx, invoice_id, decision, reason=reason,  # type: ignore[arg-type]
                                  actor=ui.actor)
            ui.audit(f"invoice.{decision}", f"received/{invoice_id}", detail=reason or None)
            outcomes.append((invoice_id, inv, None))
        except AppError as exc:
            outcomes.append((invoice_id, None, str(exc)))
    return ui.render("received_bulk.html", title=ui.gettext("Decisions"), outcomes=outcomes,
                     decision=decision)
