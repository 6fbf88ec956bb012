"""A direct path to the hottest read routes (the list pages), beside FastAPI's own.

Why: a list page is one keyset query of well under a millisecond, and FastAPI's generic
per-request machinery cost more than the query itself: matching the path against every
route, solving the dependency tree, and extracting each query parameter through generic
type introspection (a cProfile of `GET /invoices/received` in the server: ≈ 30 % of its
time in FastAPI's route handling, against ≈ 23 % for executing and fetching the query).
Issue 12 asks for a page within 3x the bare SQL of the same rows; it was 4.2x.

How it stays the same API, with nothing declared twice: at the first request, for each path
in `FAST_PATHS`, this middleware takes the FastAPI route the API's router declares for a
GET of that path (`routes/`): its endpoint function, its query parameters (names, types,
defaults and constraints, validated by the same pydantic validators FastAPI uses) and the
role its `needs()` dependency demands. A request is answered here only on the happy path:

- GET of exactly that path, no request body, no telemetry configured for the request;
- a bearer token this process verified moments ago (`tokens.remembered`) whose role
  suffices (the same check as `auth.Require`, which answers a remembered token the same
  way);
- every query parameter valid.

Anything else falls through to FastAPI, untouched, which gives the answer it always gave:
no or unknown token (a store look-up, the throttle) → 401, a role too low → 403, a bad
parameter → 422, an error of the app → its problem document. The endpoint that answers is
the route's own function, so a page's body and headers are the same bytes either way
(tests compare the two paths' answers). If the endpoint raises here (a bad cursor, the
store), nothing has been sent yet and the request falls through to FastAPI too: these
routes only read, so running one again is harmless, and the client gets FastAPI's answer
(an unexpected failure is logged here as well). The OpenAPI contract is FastAPI's, from
the same routes.

It sits innermost among the API's middleware (body limit, audit, Idempotency-Key still wrap
it), inside Starlette's error and FastAPI's own middleware.
"""

from __future__ import annotations

import copy
import inspect
import logging
import types
import typing
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

from wpec_invoicing.app import tokens
from wpec_invoicing.web.api.auth import Require, client_address

log = logging.getLogger(__name__)

# The list pages an integrator polls (and the benchmark measures): async endpoints that
# only read.
FAST_PATHS = ("/api/v1/invoices/received", "/api/v1/invoices/sent", "/api/v1/messages",
              "/api/v1/events")

Scope = dict[str, Any]
_IMMUTABLE = (type(None), bool, int, float, str, bytes)


class _Ineligible(Exception):
    """A route whose declaration this path does not reproduce (it stays FastAPI's alone)."""


@dataclass(frozen=True)
class _Param:
    field: Any  # FastAPI's ModelField of the query parameter
    name: str
    alias: str
    sequence: bool
    required: bool
    check_default: bool  # validate the default when the parameter is absent
    default: Any
    default_is_shared: bool  # immutable: passed as is, not copied per request


@dataclass(frozen=True)
class _Route:
    endpoint: Any
    role: str
    params: tuple[_Param, ...]
    request_name: str


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_is_sequence(a) for a in typing.get_args(annotation) if a is not type(None))
    return (origin or annotation) in (list, tuple, set, frozenset)


def _route_of(route: APIRoute) -> _Route:
    """The parts of a FastAPI route this path needs, or _Ineligible when the route declares
    anything it does not reproduce (path, header, cookie or body parameters, dependencies
    other than one `needs(role)`, a sync endpoint)."""
    dependant = route.dependant
    if (dependant.path_params or dependant.header_params or dependant.cookie_params
            or dependant.body_params or dependant.request_param_name is None
            or not inspect.iscoroutinefunction(route.endpoint)):
        raise _Ineligible(route.path)
    requires = [d.dependency for d in route.dependencies]
    if len(requires) != 1 or not isinstance(requires[0], Require):
        raise _Ineligible(route.path)
    own = {p.name for p in inspect.signature(route.endpoint).parameters.values()}
    declared = {f.name for f in dependant.query_params} | {dependant.request_param_name}
    if own != declared:  # e.g. a dependency parameter of the endpoint itself
        raise _Ineligible(route.path)
    params = []
    for field in dependant.query_params:
        info = field.field_info
        if info.validation_alias not in (None, field.alias):
            raise _Ineligible(route.path)
        params.append(_Param(field, field.name, field.alias, _is_sequence(info.annotation),
                             info.is_required(), bool(info.validate_default), field.default,
                             isinstance(field.default, _IMMUTABLE)))
    return _Route(route.endpoint, requires[0].role, tuple(params),
                  dependant.request_param_name)


def find_routes(app: Any, included: list[tuple[str, Any]]) -> dict[str, _Route]:
    """For each fast path, its GET route among the `(prefix, APIRouter)` pairs the app
    included, when the route is eligible (and the app adds no dependency of its own)."""
    found: dict[str, _Route] = {}
    for prefix, router in included:
        for route in router.routes:
            path = prefix + getattr(route, "path", "")
            if (path in FAST_PATHS and path not in found and isinstance(route, APIRoute)
                    and "GET" in route.methods):
                try:
                    if app.router.dependencies or router.dependencies:
                        raise _Ineligible(path)
                    found[path] = _route_of(route)
                except _Ineligible:
                    log.warning("%s: left to FastAPI (declares what the fast path does "
                                "not reproduce)", path)
    return found


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


class FastRoutes:
    """Pure ASGI middleware: answers the happy path of `FAST_PATHS` with the routes' own
    endpoints, and hands everything else to the app behind it."""

    def __init__(self, app: Any, api: Any, included: list[tuple[str, Any]]) -> None:
        self.app, self.api, self.included = app, api, included
        self._routes: dict[str, _Route] | None = None
        self.served = 0  # requests answered here (the tests check the path is taken)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            if self._routes is None:
                self._routes = find_routes(self.api, self.included)
            route = self._routes.get(scope["path"])
            if route is not None:
                response = await self.answer(route, scope, receive)
                if response is not None:
                    self.served += 1
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

    async def answer(self, route: _Route, scope: Scope, receive: Any) -> Response | None:
        """The route's response, or None: FastAPI must answer this one."""
        if (scope.get("root_path") or scope.get("fastapi.telemetry") is not None
                or self.api.dependency_overrides
                or _header(scope, b"transfer-encoding") is not None
                or _header(scope, b"content-length") not in (None, b"0")):
            return None
        authorization = _header(scope, b"authorization")
        if authorization is None:
            return None
        scheme, secret = get_authorization_scheme_param(authorization.decode("latin-1"))
        if not secret or scheme.lower() != "bearer":
            return None
        request = Request(scope, receive)
        address = client_address(request)
        caller = tokens.remembered(secret, address=address)
        if caller is None or not tokens.role_allows(caller.role, route.role):
            return None
        kwargs = self._arguments(route, scope)
        if kwargs is None:
            return None
        self.api.state.throttle.succeeded(address)
        request.state.caller = caller
        kwargs[route.request_name] = request
        try:
            response = await route.endpoint(**kwargs)
        except Exception as exc:  # FastAPI answers it (see the docstring)
            from wpec_invoicing.app.errors import AppError

            if not isinstance(exc, AppError):
                log.warning("%s: %s on the fast path; answered by FastAPI's",
                            scope["path"], type(exc).__name__)
            return None
        return response if isinstance(response, Response) else None

    @staticmethod
    def _arguments(route: _Route, scope: Scope) -> dict[str, Any] | None:
        """The endpoint's query arguments as FastAPI would pass them, or None when one is
        invalid (FastAPI then answers 422 with the details)."""
        query = QueryParams(scope["query_string"])
        values: dict[str, Any] = {}
        for p in route.params:
            value = query.getlist(p.alias) if p.sequence else query.get(p.alias)
            if value is None or (p.sequence and not value):
                if p.required:
                    return None
                value = p.default if p.default_is_shared else copy.deepcopy(p.default)
                if not p.check_default:
                    values[p.name] = value
                    continue
            checked, errors = p.field.validate(value, values, loc=("query", p.alias))
            if errors:
                return None
            values[p.name] = checked
        return values
