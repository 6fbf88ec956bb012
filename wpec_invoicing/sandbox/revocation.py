"""A CRL distribution point and an OCSP responder on loopback HTTP, for one or more CAs.

Why: revocation checking is only proven against a real server. The sandbox CA publishes its
CRL and answers OCSP here (so `wpec demo` shows revocation checked), and the tests serve
their test PKI (root, intermediate) from the same code. Per authority, under `/<name>/`:

- `GET /<name>/crl`: the CA's current CRL (DER), signed by the CA, nextUpdate a day ahead;
- `POST /<name>/ocsp`: an OCSP answer (RFC 6960) signed by a delegated responder
  certificate (id-kp-OCSPSigning, ocsp-nocheck): good, revoked (date, reason) or unknown.

Only 127.0.0.1; `revoke()` takes effect on the next request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

CRL_VALIDITY = timedelta(days=1)
_MAX_REQUEST = 64 * 1024


@dataclass
class Authority:
    """A CA whose revocation data the responder publishes."""

    name: str
    key: Any
    cert: x509.Certificate
    responder_key: Any = None
    responder_cert: x509.Certificate | None = None
    # serial -> (revocation time, reason)
    revoked: dict[int, tuple[datetime, x509.ReasonFlags]] = field(default_factory=dict)
    crl_number: int = 1

    def revoke(self, serial: int, *, when: datetime | None = None,
               reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise) -> None:
        self.revoked[serial] = ((when or datetime.now(UTC)).replace(microsecond=0), reason)
        self.crl_number += 1

    def crl_der(self) -> bytes:
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now)
            .next_update(now + CRL_VALIDITY)
            .add_extension(x509.CRLNumber(self.crl_number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.cert.public_key()),
                critical=False)
        )
        for serial, (when, reason) in sorted(self.revoked.items()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(serial)
                .revocation_date(when)
                .add_extension(x509.CRLReason(reason), critical=False)
                .build()
            )
        return builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_der(self, request_der: bytes) -> bytes:
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
                serialization.Encoding.DER)
        signer_key = self.responder_key or self.key
        signer_cert = self.responder_cert or self.cert
        now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        ours = _key_hash(self.cert, request.hash_algorithm) == request.issuer_key_hash
        revoked = self.revoked.get(request.serial_number)
        if not ours:
            status, when, reason = ocsp.OCSPCertStatus.UNKNOWN, None, None
        elif revoked:
            status, (when, reason) = ocsp.OCSPCertStatus.REVOKED, revoked
        else:
            status, when, reason = ocsp.OCSPCertStatus.GOOD, None, None
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=status,
            this_update=now,
            next_update=now + CRL_VALIDITY,
            revocation_time=when,
            revocation_reason=reason,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, signer_cert)
        if signer_cert is not self.cert:
            builder = builder.certificates([signer_cert])
        response = builder.sign(signer_key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)


def _key_hash(cert: x509.Certificate, algorithm: hashes.HashAlgorithm) -> bytes:
    spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo)
    from asn1crypto import keys

    bits = keys.PublicKeyInfo.load(spki)["public_key"].contents[1:]
    digest = hashes.Hash(algorithm)
    digest.update(bits)
    return digest.finalize()


class RevocationResponder:
    """The HTTP server (a thread); `with RevocationResponder() as r: r.add(authority)`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.authorities: dict[str, Authority] = {}
        self.requests: list[str] = []  # "GET /root/crl", ... (tests read what was asked)
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def add(self, authority: Authority) -> Authority:
        self.authorities[authority.name] = authority
        return authority

    @property
    def port(self) -> int:
        assert self._server is not None, "the responder is not started"
        return int(self._server.server_address[1])

    def base_url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def crl_url(self, name: str) -> str:
        return f"{self.base_url()}/{name}/crl"

    def ocsp_url(self, name: str) -> str:
        return f"{self.base_url()}/{name}/ocsp"

    def start(self) -> RevocationResponder:
        if self._server is not None:
            return self
        responder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet: the sandbox logs elsewhere
                pass

            def _authority(self, what: str) -> Authority | None:
                parts = self.path.strip("/").split("/")
                if len(parts) != 2 or parts[1] != what:
                    return None
                return responder.authorities.get(parts[0])

            def _send(self, code: int, body: bytes, content_type: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                responder.requests.append(f"GET {self.path}")
                authority = self._authority("crl")
                if authority is None:
                    self._send(404, b"not found", "text/plain")
                    return
                self._send(200, authority.crl_der(), "application/pkix-crl")

            def do_POST(self) -> None:
                responder.requests.append(f"POST {self.path}")
                authority = self._authority("ocsp")
                length = int(self.headers.get("Content-Length") or 0)
                if authority is None or not 0 < length <= _MAX_REQUEST:
                    self._send(404 if authority is None else 400, b"bad request", "text/plain")
                    return
                body = self.rfile.read(length)
                self._send(200, authority.ocsp_der(body), "application/ocsp-response")

        self._server = ThreadingHTTPServer((self._host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="wpec-revocation-responder", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> RevocationResponder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


__all__ = ["Authority", "RevocationResponder"]
