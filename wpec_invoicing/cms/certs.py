"""Make test and sandbox certificates: a CA, PEC provider / SdI signing certs, TLS server certs.

Pure: keys and certificates are values; writing them to disk is the caller's business.
RSA 2048 keeps key generation around 50-100 ms while every TLS and CMS peer accepts it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_KEY_BITS = 2048
# Backdate a little so a certificate made now is valid on a machine whose clock lags.
_BACKDATE = timedelta(minutes=5)


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def _name(common_name: str, organization: str | None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "IT")]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def make_ca(
    common_name: str,
    *,
    organization: str | None = None,
    days: int = 3650,
    not_before: datetime | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A self-signed CA (key, certificate) that may issue end-entity certificates."""
    key = _new_key()
    name = _name(common_name, organization)
    start = not_before or datetime.now(UTC) - _BACKDATE
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def issue_certificate(
    ca_key: Any,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    email: str | None = None,
    organization: str | None = None,
    days: int = 825,
    server_names: Iterable[str] = (),
    not_before: datetime | None = None,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    qualified: bool = False,
    not_after: datetime | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """An end-entity certificate signed by the CA.

    `crl_url` / `ocsp_url` put a CRL distribution point / an AIA OCSP address in it (where a
    verifier asks whether it was revoked); `qualified` adds QcStatements (QcCompliance,
    QcSSCD, QcType esign) as on an eIDAS qualified signature certificate.

    With `email` it is a signing certificate (S/MIME: email in the SAN, emailProtection);
    with `server_names` a TLS server certificate whose SAN lists those DNS names and IP
    addresses (names that parse as IPs become IP entries), plus `localhost` and 127.0.0.1
    always, since every server here binds loopback. Both may be combined.
    """
    key = _new_key()
    start = not_before or datetime.now(UTC) - _BACKDATE
    names = list(dict.fromkeys(server_names))
    if names:
        # Servers here bind loopback only: always make the cert usable on 127.0.0.1.
        names += [n for n in ("localhost", "127.0.0.1") if n not in names]
    san: list[x509.GeneralName] = []
    if email:
        san.append(x509.RFC822Name(email))
    for entry in names:
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(entry)))
        except ValueError:
            san.append(x509.DNSName(entry))
    usages = []
    if email or not names:
        usages.append(ExtendedKeyUsageOID.EMAIL_PROTECTION)
    if names:
        usages.append(ExtendedKeyUsageOID.SERVER_AUTH)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(not_after or start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=not names,
                key_encipherment=bool(names),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    builder = _with_revocation_urls(builder, crl_url, ocsp_url)
    if qualified:
        from .qualified import QC_STATEMENTS, qc_statements_der

        builder = builder.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier(QC_STATEMENTS),
                                       qc_statements_der()),
            critical=False,
        )
    return key, builder.sign(ca_key, hashes.SHA256())


def _with_revocation_urls(
    builder: x509.CertificateBuilder, crl_url: str | None, ocsp_url: str | None
) -> x509.CertificateBuilder:
    if crl_url:
        builder = builder.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None,
            reasons=None, crl_issuer=None)]), critical=False)
    if ocsp_url:
        builder = builder.add_extension(x509.AuthorityInformationAccess([
            x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                   x509.UniformResourceIdentifier(ocsp_url))]), critical=False)
    return builder


def issue_ca(
    ca_key: Any,
    ca_cert: x509.Certificate,
    common_name: str,
    *,
    organization: str | None = None,
    days: int = 1825,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
    not_before: datetime | None = None,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """An intermediate CA certificate signed by `ca_cert` (revocation URLs as for a leaf)."""
    key = _new_key()
    start = not_before or datetime.now(UTC) - _BACKDATE
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
    )
    builder = _with_revocation_urls(builder, crl_url, ocsp_url)
    return key, builder.sign(ca_key, hashes.SHA256())


def issue_ocsp_responder(
    ca_key: Any, ca_cert: x509.Certificate, common_name: str, *, days: int = 825
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A delegated OCSP responder certificate (id-kp-OCSPSigning, id-pkix-ocsp-nocheck)."""
    key = _new_key()
    start = datetime.now(UTC) - _BACKDATE
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, None))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
                       critical=False)
        .add_extension(x509.OCSPNoCheck(), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def cert_to_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_to_pem(key: Any) -> bytes:
    """Unencrypted PKCS#8 PEM: for test and sandbox keys, which the caller stores with 0600."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_pem_key(data: bytes, password: bytes | None = None) -> Any:
    return serialization.load_pem_private_key(data, password=password)


def load_pem_certificate(data: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(data)
