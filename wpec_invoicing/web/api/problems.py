"""Errors as RFC 9457 problem documents (`application/problem+json`), one stable `type` each.

Every error that leaves the API goes through here: the application's errors (`app.errors`),
bad input (`errors.InputError`, request validation), HTTP errors of the framework, and, last,
anything unexpected (500, "internal", logged, never a traceback to the client).
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from wpec_invoicing.app.errors import AppError, Rejected
from wpec_invoicing.errors import WpecError

log = logging.getLogger(__name__)

TYPE_BASE = "urn:wpec:problem:"
MEDIA_TYPE = "application/problem+json"
_BY_STATUS = {400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
              405: "method-not-allowed", 406: "not-acceptable", 409: "conflict",
              413: "too-large", 415: "unsupported-media-type", 422: "invalid-request",
              429: "too-many-requests", 500: "internal", 503: "unavailable"}


class Problem(BaseModel):
    """An RFC 9457 problem document."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[dict[str, Any]] | None = None  # field errors, or per-item diagnostics


def problem(status: int, kind: str | None = None, detail: str | None = None, *,
            instance: str | None = None, errors: list[dict[str, Any]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    kind = kind or _BY_STATUS.get(status, "error")
    body = Problem(type=TYPE_BASE + kind, title=kind.replace("-", " ").capitalize(),
                   status=status, detail=detail, instance=instance, errors=errors)
    return JSONResponse(body.model_dump(exclude_none=True), status_code=status,
                        media_type=MEDIA_TYPE, headers=headers)


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses (all of them problem+json)."""
    return {code: {"model": Problem, "content": {MEDIA_TYPE: {}},
                   "description": _BY_STATUS.get(code, "error")} for code in codes}


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        errors = exc.diagnostics if isinstance(exc, Rejected) else None
        return problem(exc.status, exc.problem_type, str(exc), instance=request.url.path,
                       errors=errors)

    @app.exception_handler(WpecError)
    async def _wpec_error(request: Request, exc: WpecError) -> JSONResponse:
        from wpec_invoicing.errors import ConfigError

        if isinstance(exc, ConfigError):
            return problem(503, "unavailable", str(exc), instance=request.url.path)
        return problem(422, "invalid-request", str(exc), instance=request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()]
        return problem(422, "invalid-request", "the request does not match the API",
                       instance=request.url.path, errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, None, str(exc.detail) if exc.detail else None,
                       instance=request.url.path, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem(500, "internal", f"internal error ({type(exc).__name__}); the server "
                       "log has the details", instance=request.url.path)
