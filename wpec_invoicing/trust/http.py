"""Fetch a CRL or an OCSP answer over HTTP(S), within limits.

Why a guarded fetcher: the URLs come from certificates, i.e. from whoever made the signed
file. So: only `http` and `https` (never `ldap`, `file` or anything else), redirects
followed only to `http`/`https` and at most a few times, a timeout on every request, a cap on
the bytes read (checked while streaming, not after), TLS verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

_REDIRECTS = {301, 302, 303, 307, 308}
USER_AGENT = "wpec_invoicing revocation check"


class FetchError(Exception):
    """The resource could not be fetched; the message says which URL and why."""


@dataclass(frozen=True)
class HttpLimits:
    timeout_seconds: float = 10.0
    max_bytes: int = 20 * 1024 * 1024  # national CAs publish CRLs of several MB
    max_redirects: int = 3


def check_url(url: str) -> str:
    """`url` when it is http(s) with a host, else FetchError (why)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError(f"{url}: only http and https addresses are fetched "
                         f"(not {parts.scheme or 'a relative address'!r})")
    if not parts.hostname:
        raise FetchError(f"{url}: no host in the address")
    return url


class HttpFetcher:
    """A small synchronous client (one connection pool) for revocation data."""

    def __init__(self, limits: HttpLimits | None = None) -> None:
        import httpx  # here, not at import: a warm cache never needs the network stack

        self.limits = limits or HttpLimits()
        self._client = httpx.Client(
            timeout=self.limits.timeout_seconds, follow_redirects=False,
            headers={"User-Agent": USER_AGENT},
        )

    def close(self) -> None:
        self._client.close()

    def get(self, url: str, *, accept: str) -> bytes:
        return self._request("GET", url, None, {"Accept": accept})

    def post(self, url: str, body: bytes, *, content_type: str, accept: str) -> bytes:
        return self._request("POST", url, body, {"Accept": accept, "Content-Type": content_type})

    def _request(self, method: str, url: str, body: bytes | None,
                 headers: dict[str, str]) -> bytes:
        import httpx

        check_url(url)
        for _hop in range(self.limits.max_redirects + 1):
            try:
                with self._client.stream(method, url, content=body, headers=headers) as resp:
                    if resp.status_code in _REDIRECTS:
                        target = urljoin(url, resp.headers.get("location", ""))
                        try:
                            check_url(target)
                        except FetchError as exc:
                            raise FetchError(f"{url} redirects to a refused address: "
                                             f"{exc}") from None
                        if resp.status_code == 303:
                            method, body = "GET", None
                        url = target
                        continue
                    if resp.status_code != 200:
                        raise FetchError(f"{url}: HTTP {resp.status_code}")
                    declared = resp.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > self.limits.max_bytes:
                        raise FetchError(f"{url}: {declared} bytes, over the limit of "
                                         f"{self.limits.max_bytes}")
                    data = bytearray()
                    for chunk in resp.iter_bytes():
                        data += chunk
                        if len(data) > self.limits.max_bytes:
                            raise FetchError(f"{url}: over the limit of "
                                             f"{self.limits.max_bytes} bytes")
                    return bytes(data)
            except httpx.TimeoutException:
                raise FetchError(f"{url}: no answer within "
                                 f"{self.limits.timeout_seconds:g} s") from None
            except httpx.HTTPError as exc:
                raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from None
        raise FetchError(f"{url}: more than {self.limits.max_redirects} redirects")


__all__ = ["FetchError", "HttpFetcher", "HttpLimits", "check_url"]
