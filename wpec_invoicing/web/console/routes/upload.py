"""Invio: upload FatturaPA files (picker or drag and drop onto it) → a validation report per
file → queue the valid ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from wpec_invoicing.app import staging
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)


@router.get("/invio")
def upload_form(ui: Annotated[Ui, Depends(need("operator"))]) -> Response:
    return ui.render("upload.html", title=ui.gettext("Send invoices"), staged=None)


@router.post("/invio")
async def upload(ui: Annotated[Ui, Depends(need("operator"))],
                 files: Annotated[list[UploadFile], File()]) -> Response:
    loaded = []
    for f in files[: staging.MAX_FILES + 1]:
        data = await f.read(staging.MAX_FILE_BYTES + 1)
        loaded.append((f.filename or "", data))
    if not any(name for name, _ in loaded):
        raise InvalidRequest(ui.gettext("Choose at least one file."))
    result = await run_in_threadpool(staging.stage_invoice_files, ui.ctx, ui.user.name, loaded)
    return ui.render("upload.html", title=ui.gettext("Send invoices"), staged=result)


@router.post("/invio/{token}/accoda")
def queue(ui: Annotated[Ui, Depends(need("operator"))], token: str) -> Response:
    outcomes = staging.queue_staged(ui.ctx, ui.user.name, token)
    for o in outcomes:
        ui.audit("invoice.submit", o.file_name, result="ok" if o.queued_id else "refused",
                 detail=o.error)
    return ui.render("upload_done.html", title=ui.gettext("Send invoices"), outcomes=outcomes)
