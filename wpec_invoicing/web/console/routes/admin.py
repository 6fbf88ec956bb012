"""Utenti e token (admin only): the console users (add, change role, reset password, disable
or enable) and the API's bearer tokens (create, shown once; list; revoke).

Why here as well as in the CLI (`wpec user ...`, `wpec token ...`): the admin of a company's
box does not log in to the server to add a colleague. Both faces call the same `app/`
functions, which write the audit entry (actor `console:NAME`, with the client's address).
A refused change (a taken name, a short password, the last admin) is shown on the same page
with its reason, the form kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from wpec_invoicing.app import tokens, users
from wpec_invoicing.app.errors import AppError
from wpec_invoicing.web.console.ui import ConsoleRoute, Ui, need

router = APIRouter(route_class=ConsoleRoute)
Admin = Annotated[Ui, Depends(need("admin"))]


def _users_page(ui: Ui, *, error: str | None = None, status_code: int = 200,
                form: dict[str, str] | None = None) -> Response:
    return ui.render("users.html", status_code=status_code, title=ui.gettext("Users"),
                     people=users.list_users(ui.ctx), roles=users.ROLES,
                     languages=users.LOCALES, error=error, form=form or {})


def _user_change(ui: Ui, change, **form: str) -> Response:
    """Run one change; a refusal re-renders the page with its reason (and the status)."""
    try:
        change()
    except AppError as exc:
        return _users_page(ui, error=str(exc), status_code=exc.status, form=form)
    return ui.redirect("/utenti", notice="saved")


@router.get("/utenti")
def user_list(ui: Admin) -> Response:
    return _users_page(ui)


@router.post("/utenti")
def user_add(ui: Admin, name: Annotated[str, Form()] = "",
             role: Annotated[str, Form()] = "viewer", language: Annotated[str, Form()] = "it",
             password: Annotated[str, Form()] = "") -> Response:
    return _user_change(ui, lambda: users.add_user(
        ui.ctx, name, role=role, password=password, locale=language, actor=ui.actor,
        address=ui.address), name=name, role=role, language=language)


@router.post("/utenti/{name}/ruolo")
def user_role(ui: Admin, name: str, role: Annotated[str, Form()]) -> Response:
    return _user_change(ui, lambda: users.set_role(ui.ctx, name, role, actor=ui.actor,
                                                   address=ui.address))


@router.post("/utenti/{name}/password")
def user_password(ui: Admin, name: str, password: Annotated[str, Form()] = "") -> Response:
    return _user_change(ui, lambda: users.set_password(ui.ctx, name, password,
                                                       actor=ui.actor, address=ui.address))


@router.post("/utenti/{name}/disattiva")
def user_disable(ui: Admin, name: str) -> Response:
    return _user_change(ui, lambda: users.disable_user(ui.ctx, name, actor=ui.actor,
                                                       address=ui.address))


@router.post("/utenti/{name}/riattiva")
def user_enable(ui: Admin, name: str) -> Response:
    return _user_change(ui, lambda: users.enable_user(ui.ctx, name, actor=ui.actor,
                                                      address=ui.address))


def _tokens_page(ui: Ui, *, error: str | None = None, status_code: int = 200,
                 created: tokens.NewToken | None = None,
                 form: dict[str, str] | None = None) -> Response:
    return ui.render("tokens.html", status_code=status_code, title=ui.gettext("API tokens"),
                     items=tokens.list_tokens(ui.ctx), roles=tokens.ROLES, error=error,
                     created=created, form=form or {})


@router.get("/token")
def token_list(ui: Admin) -> Response:
    return _tokens_page(ui)


@router.post("/token")
def token_create(ui: Admin, name: Annotated[str, Form()] = "",
                 role: Annotated[str, Form()] = "integrator") -> Response:
    """A new token, its secret on this answer only (never stored, never shown again; the
    page is served no-store)."""
    try:
        created = tokens.create_token(ui.ctx, name, role, actor=ui.actor)
    except AppError as exc:
        return _tokens_page(ui, error=str(exc), status_code=exc.status,
                            form={"name": name, "role": role})
    return _tokens_page(ui, created=created)


@router.post("/token/{name}/revoca")
def token_revoke(ui: Admin, name: str) -> Response:
    tokens.revoke_token(ui.ctx, name, actor=ui.actor)
    return ui.redirect("/token", notice="revoked")
