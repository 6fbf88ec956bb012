"""The operators' console: server-rendered pages (Jinja2 + htmx) at `/`, beside the REST API
at `/api/v1`, calling the same `app/` functions.

`mount_console(app, ctx)` adds the console to a FastAPI app (the one `wpec serve` builds);
`create_console_app(ctx)` is a FastAPI app with the console alone (tests, `wpec demo --serve`
until the API's app factory mounts it). Front-end assets are vendored in `static/vendor/`
(see VENDORED.md there) and ship in the wheel with the templates and catalogs.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.staticfiles import StaticFiles

from wpec_invoicing.app.context import AppContext

STATIC_DIR = Path(__file__).resolve().parent / "static"


def console_router() -> APIRouter:
    """Every console page, each route declaring the role it needs (see `ui.need`)."""
    from wpec_invoicing.web.console.routes import (
        admin,
        auth,
        dashboard,
        mail,
        mailing,
        manage,
        received,
        rules,
        sent,
        upload,
    )

    router = APIRouter(include_in_schema=False)  # pages, not part of the API's contract
    for module in (auth, dashboard, received, sent, upload, mailing, mail, manage, rules,
                   admin):
        router.include_router(module.router)
    return router


def mount_console(app: FastAPI, ctx: AppContext) -> None:
    """Serve the console on `app` at `/` (its assets at `/static`)."""
    app.state.console_ctx = ctx
    app.include_router(console_router(), include_in_schema=False)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="console-static")


def create_console_app(ctx: AppContext) -> FastAPI:
    """A FastAPI app serving the console alone."""
    app = FastAPI(title="wpec console", docs_url=None, redoc_url=None, openapi_url=None)
    mount_console(app, ctx)
    return app
