"""`create_app`: the FastAPI application of the REST API."""

from __future__ import annotations

import importlib.util
from typing import Any

from fastapi import APIRouter, FastAPI

from wpec_invoicing import __version__
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.web.api import problems
from wpec_invoicing.web.api.auth import FailureThrottle
from wpec_invoicing.web.api.fast import FastRoutes
from wpec_invoicing.web.api.middleware import Audit, BodyLimit, Idempotency

PREFIX = "/api/v1"
DEFAULT_BODY_LIMIT = 30 * 1024 * 1024
ROUTERS = ("received", "sent", "mailings", "messages", "suppliers", "accounts", "events",
           "admin")


def create_app(ctx: AppContext, *, body_limit: int = DEFAULT_BODY_LIMIT,
               extra_routers: list[tuple[str, APIRouter]] | None = None,
               fast_paths: bool = True) -> FastAPI:
    """The API over `ctx`. `extra_routers`: (prefix, router) pairs another interface adds
    (the console mounts its pages at "/"). `fast_paths=False` answers the list pages
    through FastAPI's own request handling too (`fast.py`; the tests compare the two)."""
    api = FastAPI(
        title="wpec_invoicing API", version=__version__,
        description="The company's PEC mailbox for Italian e-invoicing: received and sent "
                    "invoices, mailings, the message archive, suppliers, accounts, alerts "
                    "and an event stream. Authenticate with `Authorization: Bearer TOKEN` "
                    "(`wpec token create`). Errors are RFC 9457 problem documents.",
        openapi_url=f"{PREFIX}/openapi.json", docs_url="/api/docs", redoc_url=None,
    )
    api.state.ctx = ctx
    api.state.throttle = FailureThrottle()
    problems.install(api)
    included = []
    for name in ROUTERS:
        module = importlib.import_module(f"wpec_invoicing.web.api.routes.{name}")
        api.include_router(module.router, prefix=PREFIX)
        included.append((PREFIX, module.router))
    if importlib.util.find_spec("wpec_invoicing.app.render") is not None:
        _include_optional(api, "wpec_invoicing.web.api.routes.render")

    @api.get(f"{PREFIX}/health", tags=["meta"], openapi_extra={"x-required-role": "none"})
    async def health() -> dict[str, Any]:
        """No token needed: is the server up, and which version."""
        # async: nothing here blocks, so no worker thread (it is also the benchmark's
        # floor: what one HTTP exchange costs on this stack without the store).
        return {"status": "ok", "version": __version__}

    for prefix, router in extra_routers or []:
        api.include_router(router, prefix=prefix)
    # Added innermost first: the body limit guards everything, audit sees every outcome,
    # and the list pages' direct path (`fast.py`) runs inside all of them.
    if fast_paths:
        api.add_middleware(FastRoutes, api=api, included=included)
    api.add_middleware(Idempotency, ctx=ctx)
    api.add_middleware(Audit, ctx=ctx)
    api.add_middleware(BodyLimit, limit=body_limit)
    return api


def _include_optional(api: FastAPI, module_name: str) -> None:
    """Routes over an optional app module (PDF rendering): included when written."""
    if importlib.util.find_spec(module_name) is not None:
        api.include_router(importlib.import_module(module_name).router, prefix=PREFIX)
