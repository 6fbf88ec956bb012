"""Pure ASGI middleware of the API: request body limit, Idempotency-Key, audit.

Pure ASGI (not Starlette's BaseHTTPMiddleware) so a streamed response (SSE) passes through
untouched and the per-request cost stays small.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi.concurrency import run_in_threadpool

from wpec_invoicing.app import audit, idempotency
from wpec_invoicing.app.errors import AppError

Scope = dict[str, Any]
MUTATING = ("POST", "PUT", "PATCH", "DELETE")


async def _send_problem(send: Any, status: int, kind: str, detail: str) -> None:
    body = json.dumps({"type": f"urn:wpec:problem:{kind}",
                       "title": kind.replace("-", " ").capitalize(), "status": status,
                       "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse a request body above `limit` bytes with 413 (declared or streamed)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _send_problem(send, 413, "too-large",
                                f"the request body is over the limit of {self.limit} bytes")
            return
        seen = 0
        started = False

        async def counting_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _TooLarge:
            if not started:
                await _send_problem(send, 413, "too-large",
                                    f"the request body is over the limit of {self.limit} bytes")


async def _read_body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def request_digest(scope: Scope, body: bytes) -> str:
    """What makes two requests "the same" for an Idempotency-Key: method, path, query,
    content type and body, with a multipart boundary (random per client call) neutralised."""
    ctype = _header(scope, b"content-type") or ""
    if ctype.lower().startswith("multipart/"):
        for param in ctype.split(";")[1:]:
            name, _, value = param.strip().partition("=")
            if name.lower() == "boundary" and value:
                boundary = value.strip('"').encode("latin-1")
                body = body.replace(boundary, b"BOUNDARY")
                ctype = ctype.replace(value, "BOUNDARY")
    return hashlib.sha256(b"\0".join([
        scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""),
        ctype.encode("latin-1"), body])).hexdigest()


class Idempotency:
    """`Idempotency-Key` on POST: the same key and body replay the first response; another
    body under the same key is 409; a concurrent duplicate waits for the first."""

    def __init__(self, app: Any, ctx: Any) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        key = _header(scope, b"idempotency-key") if scope["type"] == "http" else None
        if key is None or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        if not 1 <= len(key) <= 200 or not key.isprintable():
            await _send_problem(send, 422, "invalid-request",
                                "Idempotency-Key: 1 to 200 printable characters")
            return
        body = await _read_body(receive)
        auth = _header(scope, b"authorization") or ""
        actor = "bearer:" + hashlib.sha256(auth.encode()).hexdigest()[:40]
        digest = request_digest(scope, body)
        try:
            stored = await run_in_threadpool(idempotency.begin, self.ctx, actor, key, digest)
        except AppError as exc:
            await _send_problem(send, exc.status, exc.problem_type, str(exc))
            return
        if stored is not None:
            headers = [(b"content-length", str(len(stored.body)).encode()),
                       (b"idempotent-replayed", b"true")]
            if stored.content_type:
                headers.append((b"content-type", stored.content_type.encode()))
            await send({"type": "http.response.start", "status": stored.status,
                        "headers": headers})
            await send({"type": "http.response.body", "body": stored.body})
            return

        sent_body = False

        async def replay_receive() -> Any:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        status, headers, parts = 500, [], []

        async def capture(message: Any) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))

        try:
            await self.app(scope, replay_receive, capture)
        except BaseException:
            await run_in_threadpool(idempotency.abandon, self.ctx, actor, key)
            raise
        content = b"".join(parts)
        ctype = next((v.decode("latin-1") for k, v in headers if k == b"content-type"), None)
        if status >= 500 or status in (401, 403, 413, 429):
            await run_in_threadpool(idempotency.abandon, self.ctx, actor, key)
        else:
            await run_in_threadpool(idempotency.finish, self.ctx, actor, key,
                                    idempotency.Stored(status, ctype, content))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})


class Audit:
    """Every mutating call, whatever its outcome: who, what, when, from where, result."""

    def __init__(self, app: Any, ctx: Any) -> None:
        self.app, self.ctx = app, ctx

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in MUTATING:
            await self.app(scope, receive, send)
            return
        status = 500

        async def watch(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            caller = scope.get("state", {}).get("caller")
            client = scope.get("client")
            query = scope.get("query_string", b"").decode("latin-1")
            await run_in_threadpool(
                audit.record, self.ctx,
                actor=caller.actor if caller is not None else "anonymous",
                action=f"{scope['method']} {scope['path']}", target=query or None,
                address=client[0] if client else None, result=str(status))
