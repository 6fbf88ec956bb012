"""`/audit` and `/tokens`: administration (admin role)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Path, Query, Request

from wpec_invoicing.app import audit, tokens
from wpec_invoicing.web.api.auth import needs
from wpec_invoicing.web.api.common import Cursor, Limit, PageOut, actor, page

router = APIRouter(tags=["administration"])


@router.get("/audit", response_model=PageOut[audit.AuditOut], **needs("admin"))
def list_audit(request: Request, actor_name: str | None = Query(None, alias="actor",
                                                                max_length=120),
               since: datetime | None = None, cursor: str | None = Cursor,
               limit: int = Limit):
    """Newest first."""
    return page(request, audit.list_audit(request.app.state.ctx, actor=actor_name,
                                          since=since, cursor=cursor, limit=limit))


@router.get("/tokens", response_model=list[tokens.TokenOut], **needs("admin"))
def list_tokens(request: Request):
    return tokens.list_tokens(request.app.state.ctx)


@router.post("/tokens/{name}/revoke", response_model=tokens.TokenOut, **needs("admin", 404))
def revoke(request: Request, name: str = Path(..., max_length=100)):
    return tokens.revoke_token(request.app.state.ctx, name, actor=actor(request))
