"""Certificates the sandbox and tests rely on: CA, provider signing certs, TLS server certs."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading

from cryptography import x509

from wpec_invoicing.cms.certs import (
    cert_to_pem,
    issue_certificate,
    key_to_pem,
    load_pem_certificate,
    load_pem_key,
)


def test_ca_is_a_ca(pki):
    assert pki.ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert pki.ca.subject == pki.ca.issuer
    assert "CN=Test PEC Root CA" in pki.ca.subject.rfc4514_string()


def test_signing_certificate_has_email_and_is_issued_by_ca(pki):
    san = pki.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["posta-certificata@pec.test"]
    assert pki.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    pki.cert.verify_directly_issued_by(pki.ca)


def test_pem_round_trip(pki):
    assert load_pem_certificate(cert_to_pem(pki.cert)) == pki.cert
    key = load_pem_key(key_to_pem(pki.key))
    assert key.private_numbers() == pki.key.private_numbers()
    assert key_to_pem(pki.key).startswith(b"-----BEGIN PRIVATE KEY-----")


def test_server_certificate_names(pki):
    _, cert = issue_certificate(pki.ca_key, pki.ca, "imap.sandbox.test",
                                server_names=["imap.sandbox.test"])
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(san.get_values_for_type(x509.DNSName)) == {"imap.sandbox.test", "localhost"}
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_server_certificate_works_for_a_real_tls_handshake(pki, tmp_path):
    """A client that verifies (hostname 127.0.0.1 and localhost) accepts the server cert."""
    key, cert = issue_certificate(pki.ca_key, pki.ca, "localhost", server_names=["localhost"])
    (tmp_path / "server.pem").write_bytes(cert_to_pem(cert) + key_to_pem(key))
    (tmp_path / "ca.pem").write_bytes(cert_to_pem(pki.ca))
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "server.pem")
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    for host in ("127.0.0.1", "localhost"):
        a, b = socket.socketpair()
        with a, b:
            errors: list[BaseException] = []

            def serve(sock=b, errors=errors) -> None:
                try:
                    with server_ctx.wrap_socket(sock, server_side=True) as tls:
                        tls.sendall(tls.recv(5))
                except BaseException as exc:  # reported by the assertion below
                    errors.append(exc)

            thread = threading.Thread(target=serve)
            thread.start()
            with client_ctx.wrap_socket(a, server_hostname=host) as tls:
                tls.sendall(b"hello")
                assert tls.recv(5) == b"hello"
            thread.join(10)
            assert not errors
