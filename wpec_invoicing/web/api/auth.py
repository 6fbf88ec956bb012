"""Bearer tokens and roles: every route declares the role it needs (`needs("viewer")`).

Roles are ordered (viewer < integrator < operator < admin). No or unknown token → 401, a
token whose role is too low → 403. An address that keeps presenting bad tokens is slowed
down: each failure beyond a few doubles the wait before its next answer (up to a cap), so
guessing costs time while a legitimate client that fixed its token is not locked out.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from wpec_invoicing.app import tokens

bearer = HTTPBearer(auto_error=False, description="An API token (`wpec token create`).")


class FailureThrottle:
    """Per-address count of recent bad tokens, and the delay that count earns."""

    def __init__(self, free: int = 5, base: float = 0.25, cap: float = 10.0,
                 window: float = 600.0) -> None:
        self.free, self.base, self.cap, self.window = free, base, cap, window
        self._fails: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def delay(self, address: str) -> float:
        with self._lock:
            count, last = self._fails.get(address, (0, 0.0))
            if time.monotonic() - last > self.window:
                return 0.0
        extra = count - self.free
        return 0.0 if extra < 0 else min(self.cap, self.base * (2 ** extra))

    def failed(self, address: str) -> None:
        with self._lock:
            count, last = self._fails.get(address, (0, 0.0))
            if time.monotonic() - last > self.window:
                count = 0
            self._fails[address] = (count + 1, time.monotonic())
            if len(self._fails) > 100_000:  # bounded memory under a spray of addresses
                self._fails.clear()

    def succeeded(self, address: str) -> None:
        if address not in self._fails:  # the usual case: nothing to forget, no lock taken
            return
        with self._lock:
            self._fails.pop(address, None)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Require:
    """The dependency behind `needs(role)`."""

    def __init__(self, role: str) -> None:
        self.role = role

    async def __call__(self, request: Request,
                       creds: HTTPAuthorizationCredentials | None = Depends(bearer)
                       ) -> tokens.Caller:
        state = request.app.state
        address = client_address(request)
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "an API token is needed: Authorization: Bearer TOKEN",
                                headers={"WWW-Authenticate": "Bearer"})
        # A token seen valid moments ago is answered here; only a look-up in the store
        # goes to a worker thread (a thread hop costs more than the rest of the check).
        caller = tokens.remembered(creds.credentials, address=address)
        if caller is None:
            caller = await run_in_threadpool(tokens.authenticate, state.ctx,
                                             creds.credentials, address=address)
        if caller is None:
            wait = state.throttle.delay(address)
            state.throttle.failed(address)
            if wait:
                await asyncio.sleep(wait)
            raise HTTPException(401, "unknown or revoked token",
                                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        state.throttle.succeeded(address)
        request.state.caller = caller
        if not tokens.role_allows(caller.role, self.role):
            raise HTTPException(403, f"this needs the {self.role} role; token "
                                f"{caller.name!r} has {caller.role}")
        return caller


def needs(role: str, *codes: int, binary: tuple[str, ...] = (),
          body: dict[str, Any] | None = None) -> dict[str, Any]:
    """Route keyword arguments declaring the role (enforced, and shown in the OpenAPI as
    `x-required-role`), with the problem responses the route can give (`codes` beyond
    401/403/422), for a download its media types, and an OpenAPI request `body` for routes
    that read theirs by hand."""
    from wpec_invoicing.web.api.problems import problem_responses

    responses: dict[int | str, dict[str, Any]] = problem_responses(401, 403, 422, *codes)
    if binary:
        schema = {"schema": {"type": "string", "format": "binary"}}
        responses[200] = {"content": {media: schema for media in binary},
                          "description": "the bytes, exactly as stored"}
    return {"dependencies": [Depends(Require(role))],
            "openapi_extra": {"x-required-role": role, **(body or {})},
            "responses": responses}
