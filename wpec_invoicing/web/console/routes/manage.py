"""Fornitori (list, add, edit, block), Caselle (state, sync, quota; resume a paused one),
Avvisi e registro (open alerts to acknowledge, the audit log)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response
from pydantic import ValidationError

from wpec_invoicing.app import accounts, alerts, audit, suppliers
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.web.console.routes.common import query_without
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)


@router.get("/fornitori")
def supplier_list(ui: Annotated[Ui, Depends(need("viewer"))], q: str = "", status: str = "",
                  cursor: str | None = None) -> Response:
    page = suppliers.list_suppliers(ui.ctx, status=status or None, text=q or None,
                                    cursor=cursor, limit=50)
    return ui.render("suppliers.html", title=ui.gettext("Suppliers"), page=page, q=q,
                     status=status, more=query_without(ui.request.query_params, "cursor"))


def _supplier_in(vat: str, fiscal_code: str, name: str, status: str, note: str):
    try:
        return suppliers.SupplierIn(vat=vat or None, fiscal_code=fiscal_code or None,
                                    name=name or None, status=status, note=note or None)
    except ValidationError as exc:
        problem = exc.errors()[0]
        raise InvalidRequest(f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}") from exc


@router.post("/fornitori")
def supplier_add(ui: Annotated[Ui, Depends(need("operator"))],
                 vat: Annotated[str, Form()] = "", fiscal_code: Annotated[str, Form()] = "",
                 name: Annotated[str, Form()] = "", status: Annotated[str, Form()] = "known",
                 note: Annotated[str, Form()] = "") -> Response:
    out = suppliers.create_supplier(ui.ctx, _supplier_in(vat, fiscal_code, name, status, note))
    ui.audit("supplier.create", f"supplier/{out.id}", detail=f"{out.vat} {out.status}")
    return ui.redirect("/fornitori", notice="saved")


@router.get("/fornitori/{supplier_id}")
def supplier_edit_form(ui: Annotated[Ui, Depends(need("viewer"))],
                       supplier_id: int) -> Response:
    sup = suppliers.get_supplier(ui.ctx, supplier_id)
    return ui.render("supplier_edit.html", title=sup.name or sup.vat or "", sup=sup)


@router.post("/fornitori/{supplier_id}")
def supplier_edit(ui: Annotated[Ui, Depends(need("operator"))], supplier_id: int,
                  vat: Annotated[str, Form()] = "", fiscal_code: Annotated[str, Form()] = "",
                  name: Annotated[str, Form()] = "", status: Annotated[str, Form()] = "known",
                  note: Annotated[str, Form()] = "") -> Response:
    out = suppliers.update_supplier(ui.ctx, supplier_id,
                                    _supplier_in(vat, fiscal_code, name, status, note))
    ui.audit("supplier.update", f"supplier/{out.id}", detail=f"{out.vat} {out.status}")
    return ui.redirect(f"/fornitori/{supplier_id}", notice="saved")


@router.get("/caselle")
def account_list(ui: Annotated[Ui, Depends(need("viewer"))]) -> Response:
    return ui.render("accounts.html", title=ui.gettext("Accounts"),
                     d={"accounts": accounts.list_accounts(ui.ctx)})


@router.post("/caselle/{name}/riprendi")
def account_resume(ui: Annotated[Ui, Depends(need("admin"))], name: str) -> Response:
    accounts.resume(ui.ctx, name)
    ui.audit("account.resume", f"account/{name}")
    return ui.redirect("/caselle", notice="saved")


@router.get("/avvisi")
def alert_list(ui: Annotated[Ui, Depends(need("viewer"))], all: bool = False,
               cursor: str | None = None) -> Response:
    page = alerts.list_alerts(ui.ctx, open_only=not all, cursor=cursor, limit=50)
    log = audit.list_audit(ui.ctx, limit=50) if ui.can("operator") else None
    return ui.render("alerts.html", title=ui.gettext("Alerts and log"), page=page, log=log,
                     show_all=all, more=query_without(ui.request.query_params, "cursor"))


@router.get("/registro")
def audit_log(ui: Annotated[Ui, Depends(need("operator"))], actor: str = "",
              cursor: str | None = None) -> Response:
    log = audit.list_audit(ui.ctx, actor=actor or None, cursor=cursor, limit=100)
    return ui.render("audit.html", title=ui.gettext("Audit log"), log=log, actor=actor,
                     more=query_without(ui.request.query_params, "cursor"))


@router.post("/avvisi/{alert_id}/presa-visione")
def alert_ack(ui: Annotated[Ui, Depends(need("operator"))], alert_id: int) -> Response:
    alerts.acknowledge(ui.ctx, alert_id, actor=ui.actor)
    ui.audit("alert.acknowledge", f"alert/{alert_id}")
    return ui.redirect("/avvisi", notice="acknowledged")
