"""Cruscotto: what arrived today, what waits for someone, how each mailbox is."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from wpec_invoicing.app import console
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)


@router.get("/")
def dashboard(ui: Annotated[Ui, Depends(need("viewer"))]) -> Response:
    return ui.render("dashboard.html", title=ui.gettext("Dashboard"),
                     d=console.dashboard(ui.ctx))
