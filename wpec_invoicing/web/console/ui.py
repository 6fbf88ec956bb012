"""One request's view of the console: who is logged in, in which language, and how pages are
rendered and guarded.

Why a route class of its own: the console speaks HTML, not problem+json, so an application
error (NotFound, Forbidden, Conflict...) raised by an `app/` function becomes a page in the
user's language with the right status, whatever app the router is mounted on; and a request
without a session becomes a redirect to the login page (or an `HX-Redirect` for htmx).

CSRF: every state-changing request (any method but GET/HEAD) must carry the session's token,
as the form field `csrf_token` or the `X-CSRF-Token` header htmx sends (set once on <body>);
otherwise 403, before the route runs. The login form, which has no session yet, uses a
double-submit token (cookie + field).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape

from wpec_invoicing.app.context import AppContext
from wpec_invoicing.app.errors import AppError
from wpec_invoicing.web.console.i18n import Formats, pick, translations
from wpec_invoicing.web.console.labels import CSRF_FAILED

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
SESSION_COOKIE = "wpec_session"
LANGUAGE_COOKIE = "wpec_lang"
LOGIN_CSRF_COOKIE = "wpec_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'self'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "SAMEORIGIN",
    "Cache-Control": "no-store",
}

_env = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


class LoginNeeded(Exception):
    """No live session: the route class answers with the login page's address."""


class CsrfFailed(Exception):
    """A state-changing request without the right CSRF token."""


@dataclass
class Ui:
    """The request, its session (None on the login page) and its language."""

    request: Request
    ctx: AppContext
    session: Any = None  # app.users.SessionOut
    language: str = "it"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def user(self) -> Any:
        return self.session.user if self.session else None

    @property
    def actor(self) -> str:
        return f"console:{self.user.name}" if self.user else "console"

    @property
    def address(self) -> str | None:
        return self.request.client.host if self.request.client else None

    def can(self, role: str) -> bool:
        from wpec_invoicing.app.users import role_allows

        return self.user is not None and role_allows(self.user.role, role)

    def gettext(self, message: str, **values: Any) -> str:
        text = translations(self.language).gettext(message)
        return text % values if values else text

    def ngettext(self, singular: str, plural: str, n: int, **values: Any) -> str:
        text = translations(self.language).ngettext(singular, plural, n)
        return text % {"num": n, **values}

    def audit(self, action: str, target: str | None = None, *, result: str = "ok",
              detail: str | None = None) -> None:
        """One audit entry for a change made from the console."""
        from wpec_invoicing.app.audit import record

        record(self.ctx, actor=self.actor, action=action, target=target, result=result,
               address=self.address, detail=detail)

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        fmt = Formats(self.language)
        html = _env.get_template(template).render(
            ui=self, request=self.request, _=self.gettext, ngettext=self.ngettext, fmt=fmt,
            csrf_token=self.session.csrf_token if self.session else self.extra.get("csrf"),
            path=self.request.url.path, today=_today(), **values)
        return HTMLResponse(html, status_code=status_code)

    def redirect(self, url: str, *, notice: str | None = None) -> Response:
        """After a form post: 303 to `url` (htmx follows it too)."""
        if notice:
            url += ("&" if "?" in url else "?") + "notice=" + quote(notice)
        return RedirectResponse(url, status_code=303)


def _today():  # the company's day (Europe/Rome), for "expires in N days"
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from wpec_invoicing.web.console.i18n import TIMEZONE

    return datetime.now(ZoneInfo(TIMEZONE)).date()


def context_of(request: Request) -> AppContext:
    state = request.app.state
    return getattr(state, "console_ctx", None) or state.ctx


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def _language_of(request: Request, session: Any) -> str:
    if session is not None:
        return pick(session.user.locale)
    return pick(request.cookies.get(LANGUAGE_COOKIE))


async def _check_csrf(request: Request, expected: str | None) -> None:
    if request.method in SAFE_METHODS:
        return
    sent = request.headers.get("x-csrf-token")
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get("csrf_token")
            sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(sent, expected):
        raise CsrfFailed


def need(role: str | None) -> Callable[[Request], Any]:
    """A dependency: the request's Ui, with a live session whose role reaches `role` (None:
    no session needed, e.g. the login page). Checks the CSRF token of a state change."""
    from starlette.concurrency import run_in_threadpool

    from wpec_invoicing.app.users import current_session, require_role

    async def dependency(request: Request) -> Ui:
        ctx = context_of(request)
        token = request.cookies.get(SESSION_COOKIE)
        session = await run_in_threadpool(current_session, ctx, token) if token else None
        ui = Ui(request=request, ctx=ctx, session=session,
                language=_language_of(request, session))
        request.state.ui = ui
        if role is None:
            login_csrf = request.cookies.get(LOGIN_CSRF_COOKIE)
            await _check_csrf(request, login_csrf)
            return ui
        if session is None:
            raise LoginNeeded
        # The API's audit middleware (when mounted in `wpec serve`) names the caller from here.
        request.state.caller = SimpleNamespace(actor=ui.actor, role=session.user.role)
        await _check_csrf(request, session.csrf_token)
        require_role(session, role)
        return ui

    return dependency


def _login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(target, safe="")


def _fallback_ui(request: Request) -> Ui:
    ui = getattr(request.state, "ui", None)
    if ui is None:
        ui = Ui(request=request, ctx=context_of(request), language=_language_of(request, None))
    return ui


class ConsoleRoute(APIRoute):
    """Console routes: application errors become pages, a missing session a redirect, a bad
    CSRF token a 403; every answer carries the security headers."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                response = await handler(request)
            except LoginNeeded:
                if request.headers.get("hx-request"):
                    response = Response(status_code=401, headers={"HX-Redirect": "/login"})
                elif request.method in SAFE_METHODS:
                    response = RedirectResponse(_login_url(request), status_code=303)
                else:
                    response = RedirectResponse("/login", status_code=303)
            except CsrfFailed:
                ui = _fallback_ui(request)
                response = ui.render("error.html", status_code=403,
                                     title=ui.gettext("Forbidden"),
                                     message=ui.gettext(CSRF_FAILED))
            except AppError as exc:
                ui = _fallback_ui(request)
                titles = {403: "Forbidden", 404: "Not found", 409: "Not possible now",
                          401: "Login refused"}
                response = ui.render("error.html", status_code=exc.status,
                                     title=ui.gettext(titles.get(exc.status, "Request refused")),
                                     message=str(exc))
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return route
