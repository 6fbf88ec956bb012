"""Fornitori (list, add, edit, block), Caselle (state, sync, quota; resume a paused one;
the contract's lifecycle moves, admin only),
Avvisi e registro (open alerts to acknowledge, the audit log)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from pydantic import ValidationError

from wpec_invoicing.app import accounts, alerts, audit, console, lifecycle, suppliers
from wpec_invoicing.app.errors import Conflict, InvalidRequest
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


def _accounts_page(ui: Ui, *, error: str | None = None, status_code: int = 200) -> Response:
    return ui.render("accounts.html", status_code=status_code, title=ui.gettext("Accounts"),
                     d={"accounts": accounts.list_accounts(ui.ctx), "today": date.today(),
                        "error": error, "retention": console.retention(ui.ctx)})


@router.get("/caselle")
def account_list(ui: Annotated[Ui, Depends(need("viewer"))]) -> Response:
    return _accounts_page(ui)


def _lifecycle_move(ui: Ui, name: str, action: str, move) -> Response:
    """One lifecycle move; an illegal transition is shown on the Caselle page (409)."""
    try:
        move()
    except Conflict as exc:
        ui.audit(f"account.{action}", f"account/{name}", result="refused", detail=str(exc))
        return _accounts_page(ui, status_code=409, error=ui.gettext(
            "This change is not possible in the mailbox's current state."))
    ui.audit(f"account.{action}", f"account/{name}")
    return ui.redirect("/caselle", notice="saved")


@router.post("/caselle/{name}/rinnova")
def account_renew(ui: Annotated[Ui, Depends(need("admin"))], name: str,
                  until: Annotated[date, Form()]) -> Response:
    return _lifecycle_move(ui, name, "renew",
                           lambda: lifecycle.renew(ui.ctx, name, until=until))


@router.post("/caselle/{name}/sospendi")
def account_suspend(ui: Annotated[Ui, Depends(need("admin"))], name: str) -> Response:
    return _lifecycle_move(ui, name, "suspend", lambda: lifecycle.suspend(ui.ctx, name))


@router.post("/caselle/{name}/recupera")
def account_recover(ui: Annotated[Ui, Depends(need("admin"))], name: str) -> Response:
    return _lifecycle_move(ui, name, "recover", lambda: lifecycle.recover(ui.ctx, name))


@router.post("/caselle/{name}/disattiva")
def account_deactivate(ui: Annotated[Ui, Depends(need("admin"))], name: str) -> Response:
    return _lifecycle_move(ui, name, "deactivate", lambda: lifecycle.deactivate(ui.ctx, name))


@router.post("/caselle/{name}/riattiva")
async def account_reactivate(ui: Annotated[Ui, Depends(need("admin"))], name: str,
                             request_file: Annotated[UploadFile, File()]) -> Response:
    from starlette.concurrency import run_in_threadpool

    signed = await request_file.read()
    return await run_in_threadpool(_lifecycle_move, ui, name, "reactivate",
                                   lambda: lifecycle.reactivate(ui.ctx, name, request=signed))


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
