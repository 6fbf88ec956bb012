"""`/mailings`: mass PEC sending, one message per recipient."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from wpec_invoicing.app import mailings
from wpec_invoicing.web.api.auth import needs
from wpec_invoicing.web.api.common import Cursor, Id, Limit, PageOut, actor, created, detail, page

router = APIRouter(prefix="/mailings", tags=["mailings"])


@router.post("", status_code=201, response_model=mailings.MailingDetail,
             **needs("integrator", 409, 413, 503))
def create(request: Request, body: mailings.MailingIn):
    return created(mailings.create_mailing(request.app.state.ctx, body, actor=actor(request)))


@router.get("", response_model=PageOut[mailings.MailingOut], **needs("viewer"))
def list_mailings(request: Request, cursor: str | None = Cursor, limit: int = Limit):
    return page(request, mailings.list_mailings(request.app.state.ctx, cursor=cursor,
                                                limit=limit))


@router.get("/{mailing_id}", response_model=mailings.MailingDetail, **needs("viewer", 404))
def get_mailing(request: Request, mailing_id: Id) -> Response:
    return detail(request, mailings.get_mailing(request.app.state.ctx, mailing_id))


@router.post("/{mailing_id}/retry", response_model=mailings.MailingDetail,
             **needs("operator", 404, 409))
def retry(request: Request, mailing_id: Id):
    return mailings.retry_failed(request.app.state.ctx, mailing_id)
