"""Test signers: a CA and holders' signing certificates carrying a codice fiscale in the
subject serialNumber ("TINIT-<CF>"), as Italian qualified certificates do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wpec_invoicing.cms.certs import cert_to_pem, make_ca
from wpec_invoicing.cms.sign import sign_attached

HOLDER_CF = "RSSMRA80A01H501U"
OTHER_CF = "VRDLGU75B02F205X"


class Signers:
    def __init__(self) -> None:
        self.ca_key, self.ca_cert = make_ca("Test Qualified CA", organization="Test TSP")
        self._certs: dict[str, tuple] = {}

    @property
    def ca_pem(self) -> bytes:
        return cert_to_pem(self.ca_cert)

    def holder(self, cf: str, *, ca=None) -> tuple:
        if cf in self._certs and ca is None:
            return self._certs[cf]
        ca_key, ca_cert = ca or (self.ca_key, self.ca_cert)
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "IT"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"Titolare {cf}"),
                    x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINIT-{cf}")]))
                .issuer_name(ca_cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=3650))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                               critical=False)
                .sign(ca_key, hashes.SHA256()))
        if ca is None:
            self._certs[cf] = (key, cert)
        return key, cert

    def request(self, address: str, cf: str = HOLDER_CF, *, ca=None) -> bytes:
        key, cert = self.holder(cf, ca=ca)
        text = (f"Il sottoscritto, titolare della casella PEC {address}, chiede la "
                "riattivazione della casella.\n").encode()
        return sign_attached(text, key, cert)
