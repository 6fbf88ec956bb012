"""`web/one_write.py`: uvicorn's httptools protocol with each answer's head and first body
part joined in one socket write. A client sees the same bytes as from uvicorn's own
protocol, for every kind of answer (a page, HEAD, 204/304, a streamed answer, chunked, a
body announced as coming, 100-continue, keep-alive, an app failing before and after the
head), and the server writes each plain answer once."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tests.integration.api.conftest import company_config, free_port
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.web.api import create_app
from wpec_invoicing.web.one_write import OneWriteHttpTools
from wpec_invoicing.web.server import http_protocol

PAGE = b'{"items":[' + b",".join(b'{"id":%d}' % i for i in range(50)) + b"]}"


async def edge_app(scope, receive, send) -> None:
    """Answers of every shape uvicorn writes, chosen by path."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/fail-before":
        raise RuntimeError("before the head")
    body = b""
    while True:  # read the request body (a 100-continue client waits for this)
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream")]})
        for part in (b"retry: 2000\n\n", b"", b"data: 1\n\n", b"data: 2\n\n"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if path == "/fail-after":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", b"10")]})
        raise RuntimeError("after the head")
    status = {"/empty": 204, "/same": 304}.get(path, 200)
    content = b"" if status != 200 else (body or PAGE)
    headers = [(b"content-type", b"application/json")]
    if path != "/chunked":
        headers.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    if path == "/two-parts":
        await send({"type": "http.response.body", "body": content[:7], "more_body": True})
        content = content[7:]
    await send({"type": "http.response.body", "body": content})


WRITES: list[int] = []  # the sizes of the server's socket writes (one test at a time)


class _Counting:
    def __init__(self, transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(len(data))
        self._transport.write(data)

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class CountingOneWrite(OneWriteHttpTools):
    """The protocol under test, its socket writes recorded (what goes to the kernel)."""

    def connection_made(self, transport) -> None:
        super().connection_made(_Counting(transport))


@contextmanager
def serving(app, protocol) -> Iterator[int]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, http=protocol,
                                           log_level="critical", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def exchange(port: int, requests: list[bytes], *, blank_date: bool = True) -> bytes:
    """Every byte the server sends for `requests` on one connection (the last one closes
    it), the Date header's value blanked (the two servers answer at different times)."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        for request in requests:
            s.sendall(request)
        received = b""
        while chunk := s.recv(65536):
            received += chunk
    if not blank_date:
        return received
    return re.sub(rb"\r\ndate: [^\r]*", b"\r\ndate: -", received)


def get(path: str, *, method: str = "GET", last: bool = False, extra: bytes = b"") -> bytes:
    close = b"Connection: close\r\n" if last else b""
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode() + close + extra
            + b"\r\n")


CASES = {
    "keep-alive pages": [get("/page"), get("/page"), get("/two-parts", last=True)],
    "HEAD": [get("/page", method="HEAD"), get("/page", last=True)],
    "204 and 304": [get("/empty"), get("/same", last=True)],
    "streamed": [get("/stream"), get("/page", last=True)],
    "chunked": [get("/chunked", last=True)],
    "a body": [get("/echo", method="POST", extra=b"Content-Length: 5\r\n") + b"hello",
               get("/page", last=True)],
    "100-continue": [get("/echo", method="POST", last=True,
                         extra=b"Expect: 100-continue\r\nContent-Length: 3\r\n") + b"abc"],
    "failing before the head": [get("/page"), get("/fail-before")],
    "failing after the head": [get("/page"), get("/fail-after")],
    "HTTP/1.0": [b"GET /page HTTP/1.0\r\n\r\n"],
    "bad request": [b"GARBAGE\r\n\r\n"],
}


@pytest.mark.parametrize("case", CASES)
def test_the_bytes_are_uvicorns(case):
    with serving(edge_app, HttpToolsProtocol) as plain, \
            serving(edge_app, OneWriteHttpTools) as joined:
        expected = exchange(plain, CASES[case])
        assert expected.startswith(b"HTTP/1.1 ")
        assert exchange(joined, CASES[case]) == expected


def test_a_plain_answer_is_one_write_and_a_streamed_one_starts_with_its_head():
    with serving(edge_app, CountingOneWrite) as port:
        WRITES.clear()
        answer = exchange(port, [get("/page", last=True)], blank_date=False)
        assert len(WRITES) == 1 and WRITES[0] == len(answer)  # head and body: one write
        WRITES.clear()
        answer = exchange(port, [get("/stream", last=True)], blank_date=False)
        # The head with the first part, then each further part as it comes (not held).
        assert len(WRITES) == 5 and sum(WRITES) == len(answer)
        assert answer[:WRITES[0]].endswith(b"\r\n\r\nd\r\nretry: 2000\n\n\r\n")


def test_the_api_answers_the_same_bytes(tmp_path: Path, db_url: str):
    """The real app (pages, problems, the docs) through both protocols; `wpec serve` uses
    this one when httptools is installed."""
    assert http_protocol() is OneWriteHttpTools
    with AppContext(company_config(tmp_path, db_url)) as ctx:
        app = create_app(ctx)
        requests = [get("/api/v1/health"), get("/api/v1/invoices/received"),
                    get("/api/v1/nothing"), get("/api/v1/health", method="HEAD"),
                    get("/api/v1/openapi.json", last=True)]
        with serving(app, HttpToolsProtocol) as plain, serving(app, OneWriteHttpTools) as one:
            expected = exchange(plain, requests)
            assert expected.count(b"HTTP/1.1 ") >= 5
            assert exchange(one, requests) == expected
