"""pyhanko-certvalidator fetchers that use our guarded HTTP client and the disk cache.

Why not the library's own fetchers: they pull in aiohttp or requests, follow any redirect,
and keep nothing between runs. These implement the same interfaces
(`pyhanko_certvalidator.fetchers.api`) so the library still does what it is good at (path
validation, CRL/OCSP signature and scope checks, freshness), while every byte it sees comes
through `HttpFetcher` (http/https only, timeouts, size caps) or from `RevinfoCache`.
Offline, nothing is fetched: only cached (even stale) data is handed over.
Issuer certificates are never fetched (AIA caIssuers): the chain is the one the signature
carries plus the trust store.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterable
from typing import Any

from asn1crypto import crl, ocsp, pem
from pyhanko_certvalidator import errors
from pyhanko_certvalidator.fetchers.api import (
    CertificateFetcher,
    CRLFetcher,
    Fetchers,
    OCSPFetcher,
)
from pyhanko_certvalidator.fetchers.common_utils import (
    enumerate_delivery_point_urls,
    format_ocsp_request,
    process_ocsp_response_data,
)
from pyhanko_certvalidator.util import get_ocsp_urls, get_relevant_crl_dps, issuer_serial

from .cache import RevinfoCache
from .http import FetchError, HttpFetcher


class _Trace:
    """What each fetch did, so an `unknown` verdict can say why and a good one from where."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.sources: set[str] = set()


class CachingCRLFetcher(CRLFetcher):
    def __init__(self, http: HttpFetcher | None, cache: RevinfoCache, trace: _Trace) -> None:
        self._http = http
        self._cache = cache
        self._trace = trace
        self._by_cert: dict[bytes, list[crl.CertificateList]] = {}
        self._by_url: dict[str, crl.CertificateList] = {}

    async def fetch(self, cert: Any, *, use_deltas: Any = None) -> Iterable[crl.CertificateList]:
        key = issuer_serial(cert)
        if key in self._by_cert:
            return self._by_cert[key]
        results: list[crl.CertificateList] = []
        problems: list[str] = []
        for point in get_relevant_crl_dps(cert, use_deltas=bool(use_deltas)):
            for url in enumerate_delivery_point_urls(point):
                try:
                    results.append(await self._fetch_url(url))
                except FetchError as exc:
                    problems.append(f"CRL {exc}")
        self._trace.failures.extend(problems)
        if not results and problems:
            raise errors.CRLFetchError("; ".join(problems))
        self._by_cert[key] = results
        return results

    async def _fetch_url(self, url: str) -> crl.CertificateList:
        if url in self._by_url:
            return self._by_url[url]
        data = self._cache.get("crl", url, stale_ok=self._http is None)
        if data is not None:
            self._trace.sources.add("crl (cache)")
        else:
            if self._http is None:
                raise FetchError(f"{url}: offline and not in the cache")
            data = await asyncio.to_thread(self._http.get, url, accept="application/pkix-crl")
            if pem.detect(data):
                _, _, data = pem.unarmor(data)
            try:
                crl.CertificateList.load(data)["tbs_cert_list"]["next_update"].native  # noqa: B018
            except Exception as exc:
                raise FetchError(f"{url}: not a CRL ({type(exc).__name__})") from None
            self._cache.put("crl", url, data)
            self._trace.sources.add("crl")
        parsed = crl.CertificateList.load(data)
        self._by_url[url] = parsed
        return parsed

    def fetched_crls(self) -> Iterable[crl.CertificateList]:
        return list(self._by_url.values())

    def fetched_crls_for_cert(self, cert: Any) -> Iterable[crl.CertificateList]:
        return self._by_cert[issuer_serial(cert)]


class CachingOCSPFetcher(OCSPFetcher):
    def __init__(self, http: HttpFetcher | None, cache: RevinfoCache, trace: _Trace) -> None:
        self._http = http
        self._cache = cache
        self._trace = trace
        self._results: dict[tuple[bytes, Any], ocsp.OCSPResponse] = {}

    async def fetch(self, cert: Any, authority: Any) -> ocsp.OCSPResponse:
        tag = (issuer_serial(cert), authority.hashable)
        if tag in self._results:
            return self._results[tag]
        name = tag[0] + repr(tag[1]).encode()
        data = self._cache.get("ocsp", name, stale_ok=self._http is None)
        if data is not None:
            response = ocsp.OCSPResponse.load(data)
            self._trace.sources.add("ocsp (cache)")
        else:
            response = await self._ask(cert, authority)
            self._cache.put("ocsp", name, response.dump())
            self._trace.sources.add("ocsp")
        self._results[tag] = response
        return response

    async def _ask(self, cert: Any, authority: Any) -> ocsp.OCSPResponse:
        urls = get_ocsp_urls(cert)
        if not urls:
            raise errors.OCSPFetchError("the certificate names no OCSP responder")
        if self._http is None:
            self._trace.failures.append("OCSP: offline and no cached answer")
            raise errors.OCSPFetchError("offline and no cached OCSP answer")
        # No nonce: an answer is then reusable until its nextUpdate (the cache's point).
        request = format_ocsp_request(cert, authority, certid_hash_algo="sha1",
                                      request_nonces=False)
        problems = []
        for url in urls:
            try:
                data = await asyncio.to_thread(
                    self._http.post, url, request.dump(),
                    content_type="application/ocsp-request", accept="application/ocsp-response",
                )
                return process_ocsp_response_data(data, ocsp_request=request, ocsp_url=url)
            except FetchError as exc:
                problems.append(f"OCSP {exc}")
            except (ValueError, errors.OCSPFetchError) as exc:
                problems.append(f"OCSP {url}: {exc}")
        self._trace.failures.extend(problems)
        raise errors.OCSPFetchError("; ".join(problems))

    def fetched_responses(self) -> Iterable[ocsp.OCSPResponse]:
        return list(self._results.values())

    def fetched_responses_for_cert(self, cert: Any) -> Iterable[ocsp.OCSPResponse]:
        wanted = issuer_serial(cert)
        return [r for (iss, _), r in self._results.items() if iss == wanted]


class NoCertificateFetcher(CertificateFetcher):
    """Issuer certificates are not fetched: the chain is what the signature and store hold."""

    async def fetch_cert_issuers(self, cert: Any) -> AsyncGenerator[Any, None]:
        return
        yield  # pragma: no cover - makes this an async generator

    async def fetch_crl_issuers(self, certificate_list: Any) -> AsyncGenerator[Any, None]:
        return
        yield  # pragma: no cover

    def fetched_certs(self) -> Iterable[Any]:
        return []


def make_fetchers(http: HttpFetcher | None, cache: RevinfoCache) -> tuple[Fetchers, _Trace]:
    """Fetchers for one validation (`http` None: offline, cache only) and their trace."""
    trace = _Trace()
    return Fetchers(
        ocsp_fetcher=CachingOCSPFetcher(http, cache, trace),
        crl_fetcher=CachingCRLFetcher(http, cache, trace),
        cert_fetcher=NoCertificateFetcher(),
    ), trace


__all__ = ["make_fetchers"]
