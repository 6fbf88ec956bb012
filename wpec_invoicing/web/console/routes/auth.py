"""Log in, log out, language."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from wpec_invoicing.app import users
from wpec_invoicing.web.console.ui import (
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    ConsoleRoute,
    Ui,
    is_tls,
    need,
)

router = APIRouter(route_class=ConsoleRoute)


def _safe_next(target: str | None) -> str:
    """Only a path of this site (never //host or a scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _login_page(ui: Ui, *, next_url: str, error: str | None = None,
                status_code: int = 200) -> Response:
    token = ui.request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    ui.extra["csrf"] = token
    response = ui.render("login.html", status_code=status_code, next_url=next_url, error=error)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict",
                        secure=is_tls(ui.request), path="/login")
    return response


@router.get("/login")
def login_form(ui: Annotated[Ui, Depends(need(None))], next: str | None = None) -> Response:
    if ui.session is not None:
        return RedirectResponse(_safe_next(next), status_code=303)
    return _login_page(ui, next_url=_safe_next(next))


@router.post("/login")
async def login(ui: Annotated[Ui, Depends(need(None))], name: Annotated[str, Form()] = "",
                password: Annotated[str, Form()] = "",
                next: Annotated[str, Form()] = "/") -> Response:
    try:
        session = await run_in_threadpool(users.login, ui.ctx, name, password,
                                          address=ui.address)
    except users.LoginRefused as exc:
        message = ui.gettext("Wrong user name or password.")
        if "too many" in str(exc):
            message = ui.gettext("Too many failed attempts: try again in a few minutes.")
        return _login_page(ui, next_url=_safe_next(next), error=message, status_code=401)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(SESSION_COOKIE, session.token or "", httponly=True, samesite="lax",
                        secure=is_tls(ui.request), path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(ui: Annotated[Ui, Depends(need("viewer"))]) -> Response:
    users.logout(ui.ctx, ui.request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
def language(ui: Annotated[Ui, Depends(need("viewer"))],
             language: Annotated[str, Form()] = "it",
             back: Annotated[str, Form()] = "/") -> Response:
    users.set_locale(ui.ctx, ui.user.id, language)
    return RedirectResponse(_safe_next(back), status_code=303)


@router.get("/language/{language}")
def anonymous_language(language: str) -> Response:
    """The login page's language switch (no session yet): a cookie."""
    response = RedirectResponse("/login", status_code=303)
    if language in ("it", "en"):
        response.set_cookie(LANGUAGE_COOKIE, language, samesite="lax", path="/")
    return response
