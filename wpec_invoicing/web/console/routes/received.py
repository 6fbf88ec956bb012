"""Fatture ricevute: search (words or an amount), totals of the selection, detail, approve
or refuse (one or many), the original file."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from wpec_invoicing.app import console, received
from wpec_invoicing.app.errors import AppError
from wpec_invoicing.web.console.i18n import parse_amount
from wpec_invoicing.web.console.routes.common import download, parse_day, query_without
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
def received_detail(ui: Annotated[Ui, Depends(need("viewer"))], invoice_id: int) -> Response:
    inv = received.get_received(ui.ctx, invoice_id)
    return ui.render("received_detail.html", title=f"{inv.supplier_name or ''} {inv.number or ''}",
                     inv=inv)


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
