"""Invio massivo: recipients CSV + template + attachments zip → preview of the first
messages with each recipient's own files → start → live progress (htmx polls a fragment
every two seconds; without JavaScript, reload) → per-recipient outcome → retry the failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from wpec_invoicing.app import mailings, staging
from wpec_invoicing.app.accounts import list_accounts
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)
MAX_CSV = 10 * 1024 * 1024
MAX_ZIP = 100 * 1024 * 1024
FAILED = ("not-accepted", "delivery-failed")


def summary(detail: mailings.MailingDetail, now: datetime | None = None) -> dict[str, Any]:
    """Counts as an operator reads them, and the estimated end from the pace so far."""
    counts = {"delivered": 0, "accepted": 0, "sent": 0, "failed": 0, "waiting": 0}
    for p in detail.progress:
        if p.status == "failed" or p.provider_state in FAILED:
            counts["failed"] += 1
        elif p.provider_state == "delivered":
            counts["delivered"] += 1
        elif p.provider_state in ("accepted", "preavviso"):
            counts["accepted"] += 1
        elif p.status == "sent":
            counts["sent"] += 1
        else:
            counts["waiting"] += 1
    total = len(detail.progress) or 1
    out = total - counts["waiting"]
    now = now or datetime.now(UTC)
    elapsed = (now - detail.created_at).total_seconds()
    eta = None
    if counts["waiting"] and out and elapsed > 0:
        eta = now + timedelta(seconds=elapsed / out * counts["waiting"])
    finished = counts["waiting"] == 0 and counts["sent"] == 0
    return {"counts": counts, "total": total, "percent": round(100 * out / total),
            "eta": eta, "finished": finished}


@router.get("/invio-massivo")
def mailing_home(ui: Annotated[Ui, Depends(need("viewer"))]) -> Response:
    page = mailings.list_mailings(ui.ctx, limit=100)
    return ui.render("mailing.html", title=ui.gettext("Mass mailing"),
                     mailings=list(reversed(page.items)), accounts=list_accounts(ui.ctx),
                     preview=None)


@router.post("/invio-massivo/anteprima")
async def mailing_preview(ui: Annotated[Ui, Depends(need("operator"))],
                          recipients: Annotated[UploadFile, File()],
                          template: Annotated[str, Form()] = "",
                          template_file: Annotated[UploadFile | None, File()] = None,
                          attachments: Annotated[UploadFile | None, File()] = None,
                          account: Annotated[str, Form()] = "") -> Response:
    csv_bytes = await recipients.read(MAX_CSV + 1)
    if len(csv_bytes) > MAX_CSV:
        raise InvalidRequest("recipients CSV: larger than 10 MB")
    if template_file is not None and template_file.filename:
        template = (await template_file.read(200_001)).decode("utf-8-sig", errors="replace")
    zip_bytes = await attachments.read(MAX_ZIP + 1) if attachments is not None else b""
    if len(zip_bytes) > MAX_ZIP:
        raise InvalidRequest("attachments: the zip is larger than 100 MB")
    preview = await run_in_threadpool(
        lambda: staging.stage_mailing(ui.ctx, ui.user.name, recipients_csv=csv_bytes,
                                      template=template, attachments_zip=zip_bytes,
                                      account=account or None))
    return ui.render("mailing.html", title=ui.gettext("Mass mailing"), mailings=[],
                     accounts=[], preview=preview)


@router.post("/invio-massivo/{token}/avvia")
def mailing_start(ui: Annotated[Ui, Depends(need("operator"))], token: str) -> Response:
    mailing_id = staging.start_staged_mailing(ui.ctx, ui.user.name, token, actor=ui.actor)
    ui.audit("mailing.start", f"mailing/{mailing_id}")
    return ui.redirect(f"/invio-massivo/{mailing_id}")


@router.get("/invio-massivo/{mailing_id}")
def mailing_detail(ui: Annotated[Ui, Depends(need("viewer"))], mailing_id: int) -> Response:
    detail = mailings.get_mailing(ui.ctx, mailing_id)
    return ui.render("mailing_detail.html", title=detail.subject, m=detail, s=summary(detail))


@router.get("/invio-massivo/{mailing_id}/avanzamento")
def mailing_progress(ui: Annotated[Ui, Depends(need("viewer"))], mailing_id: int) -> Response:
    """The progress fragment htmx swaps in place."""
    detail = mailings.get_mailing(ui.ctx, mailing_id)
    return ui.render("_mailing_progress.html", m=detail, s=summary(detail))


@router.post("/invio-massivo/{mailing_id}/riprova")
def mailing_retry(ui: Annotated[Ui, Depends(need("operator"))], mailing_id: int) -> Response:
    mailings.retry_failed(ui.ctx, mailing_id)
    ui.audit("mailing.retry", f"mailing/{mailing_id}")
    return ui.redirect(f"/invio-massivo/{mailing_id}", notice="retried")
