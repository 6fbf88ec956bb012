"""`/accounts` and `/alerts`: the PEC boxes' state, and what an operator must look at."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request

from wpec_invoicing.app import accounts, alerts
from wpec_invoicing.web.api.auth import needs
from wpec_invoicing.web.api.common import Cursor, Id, Limit, PageOut, actor, page

router = APIRouter(tags=["accounts and alerts"])
Name = Path(..., max_length=200)


@router.get("/accounts", response_model=list[accounts.AccountOut], **needs("viewer"))
def list_accounts(request: Request):
    return accounts.list_accounts(request.app.state.ctx)


@router.get("/accounts/{name}", response_model=accounts.AccountOut, **needs("viewer", 404))
def get_account(request: Request, name: str = Name):
    return accounts.get_account(request.app.state.ctx, name)


@router.post("/accounts/{name}/resume", response_model=accounts.AccountOut,
             **needs("operator", 404))
def resume(request: Request, name: str = Name):
    return accounts.resume(request.app.state.ctx, name)


@router.get("/alerts", response_model=PageOut[alerts.AlertOut], **needs("viewer"))
def list_alerts(request: Request, open: bool = True,
                cursor: str | None = Cursor, limit: int = Limit):
    return page(request, alerts.list_alerts(request.app.state.ctx, open_only=open,
                                            cursor=cursor, limit=limit))


@router.post("/alerts/{alert_id}/acknowledge", response_model=alerts.AlertOut,
             **needs("operator", 404, 409))
def acknowledge(request: Request, alert_id: Id):
    return alerts.acknowledge(request.app.state.ctx, alert_id, actor=actor(request))
