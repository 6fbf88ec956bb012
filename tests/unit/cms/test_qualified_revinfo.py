"""QcStatements and embedded revocation data: parsers that never raise on hostile bytes."""

from __future__ import annotations

from asn1crypto import core
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from hypothesis import given
from hypothesis import strategies as st

from wpec_invoicing.cms.certs import issue_certificate
from wpec_invoicing.cms.qualified import QcInfo, _parse, qc_info, qc_statements_der


def test_round_trip_of_qc_statements():
    der = qc_statements_der(compliance=True, sscd=False, types=("eseal",))
    assert _parse(der) == QcInfo(compliance=True, sscd=False, types=("eseal",))


def test_issued_qualified_certificate_reads_as_qualified(pki):
    _key, cert = issue_certificate(pki.ca_key, pki.ca, "Mario Rossi", email="m@example.test",
                                  qualified=True)
    info = qc_info(asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)))
    assert info.qualified and info.sscd and info.types == ("esign",)
    plain = qc_info(asn1_x509.Certificate.load(pki.cert.public_bytes(
        serialization.Encoding.DER)))
    assert plain == QcInfo() and not plain.qualified


@given(st.binary(max_size=300))
def test_qc_parser_never_raises_on_garbage(data):
    cert = issue_certificate_with_raw_qc(data)
    assert isinstance(qc_info(cert), QcInfo)


_BASE: list = []


def issue_certificate_with_raw_qc(raw: bytes) -> asn1_x509.Certificate:
    """A parsed certificate whose QcStatements extension holds `raw` (built once, patched)."""
    if not _BASE:
        from wpec_invoicing.cms.certs import make_ca

        _key, ca = make_ca("QC fuzz CA")
        _BASE.append(ca.public_bytes(serialization.Encoding.DER))
    cert = asn1_x509.Certificate.load(_BASE[0])
    ext = asn1_x509.Extension({"extn_id": "1.3.6.1.5.5.7.1.3", "critical": False,
                               "extn_value": core.ParsableOctetString(raw)})
    tbs = cert["tbs_certificate"]
    tbs["extensions"] = asn1_x509.Extensions([ext])
    return asn1_x509.Certificate.load(cert.dump(force=True))
