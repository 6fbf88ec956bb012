"""The guarded fetcher against real loopback servers: only http(s), redirects only to http(s),
a cap on the bytes read, a timeout; each refusal says which address and why."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wpec_invoicing.trust.http import FetchError, HttpFetcher, HttpLimits, check_url


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        routes = {
            "/ok": (200, {}, b"x" * 100),
            "/big": (200, {}, b"x" * 5000),
            "/to-file": (302, {"Location": "file:///etc/passwd"}, b""),
            "/to-ldap": (301, {"Location": "ldap://ldap.example/cn=crl"}, b""),
            "/to-ok": (302, {"Location": "/ok"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
            "/missing": (404, {}, b"no"),
        }
        code, headers, body = routes.get(self.path, (404, {}, b""))
        self.send_response(code)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    f = HttpFetcher(HttpLimits(timeout_seconds=1.0, max_bytes=1000, max_redirects=3))
    yield f
    f.close()


def test_fetches_and_follows_http_redirects(server, fetcher):
    assert fetcher.get(f"{server}/ok", accept="*/*") == b"x" * 100
    assert fetcher.get(f"{server}/to-ok", accept="*/*") == b"x" * 100


@pytest.mark.parametrize(("path", "words"), [
    ("/to-file", "refused address"), ("/to-ldap", "refused address"),
    ("/big", "over the limit"), ("/loop", "redirects"), ("/missing", "HTTP 404"),
])
def test_refusals_say_why(server, fetcher, path, words):
    with pytest.raises(FetchError, match=words) as info:
        fetcher.get(f"{server}{path}", accept="*/*")
    assert "127.0.0.1" in str(info.value)


def test_a_server_that_never_answers_times_out(fetcher):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts the connection, never answers
    try:
        with pytest.raises(FetchError, match="no answer within"):
            fetcher.get(f"http://127.0.0.1:{silent.getsockname()[1]}/crl", accept="*/*")
    finally:
        silent.close()


@pytest.mark.parametrize("url", ["ldap://x/crl", "file:///etc/passwd", "ftp://x/c.crl",
                                 "/relative", "http:///nohost", "gopher://x"])
def test_only_http_and_https_addresses_are_fetched(url):
    with pytest.raises(FetchError):
        check_url(url)


@given(st.text(max_size=60))
def test_check_url_accepts_only_http_s_with_a_host(text):
    try:
        check_url(text)
    except FetchError:
        return
    assert text.lower().startswith(("http://", "https://"))
