"""Regole: the rule in force for each message kind; edit the `[rules]` section, try it on the
last archived messages (what each rule does now and would do), save it (atomic, audited)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from wpec_invoicing.app import console_rules
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)


@router.get("/regole")
def rules_page(ui: Annotated[Ui, Depends(need("viewer"))]) -> Response:
    return ui.render("rules.html", title=ui.gettext("Rules"),
                     rules=console_rules.effective_rules(ui.ctx),
                     text=console_rules.rules_text(ui.ctx) if ui.can("admin") else None,
                     draft=None)


@router.post("/regole/prova")
def rules_try(ui: Annotated[Ui, Depends(need("admin"))],
              text: Annotated[str, Form(max_length=200_000)]) -> Response:
    draft = console_rules.check_rules(ui.ctx, text)
    return ui.render("rules.html", title=ui.gettext("Rules"), rules=draft.rules, text=text,
                     draft=draft, status_code=422 if draft.errors else 200)


@router.post("/regole/salva")
def rules_save(ui: Annotated[Ui, Depends(need("admin"))],
               text: Annotated[str, Form(max_length=200_000)]) -> Response:
    console_rules.save_rules(ui.ctx, text, actor=ui.actor, address=ui.address)
    return ui.redirect("/regole", notice="saved")
