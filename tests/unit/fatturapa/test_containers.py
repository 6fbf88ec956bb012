"""Every container a supplier sends: XML, p7m DER, base64 (with/without breaks, twice), PEM."""

from __future__ import annotations

import base64

import pytest

from wpec_invoicing.fatturapa import read_invoice, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice

from .conftest import needs_openssl

P7M_NAME = "IT01234567897_00001.xml.p7m"
DOC = sample_invoice(format="FPA12", lines=2)


@pytest.fixture(scope="module")
def p7m(signer) -> bytes:
    return signer.sign(write_invoice(DOC))


def _wrap(kind: str, der: bytes) -> bytes:
    if kind == "der":
        return der
    if kind == "base64":
        return base64.b64encode(der)
    if kind == "base64-lines":
        return base64.encodebytes(der)
    if kind == "base64-crlf":
        return base64.encodebytes(der).replace(b"\n", b"\r\n")
    if kind == "base64-twice":
        return base64.b64encode(base64.encodebytes(der))
    if kind == "pem":
        return b"-----BEGIN PKCS7-----\n" + base64.encodebytes(der) + b"-----END PKCS7-----\n"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "container"),
    [
        ("der", "p7m-der"),
        ("base64", "p7m-base64"),
        ("base64-lines", "p7m-base64"),
        ("base64-crlf", "p7m-base64"),
        ("base64-twice", "p7m-base64"),
        ("pem", "p7m-base64"),
    ],
)
def test_p7m_in_every_wrapping_is_opened_and_verified(p7m, signer, kind, container):
    report = read_invoice(_wrap(kind, p7m), file_name=P7M_NAME, trust=signer.trust)
    assert report.container == container
    assert report.valid, (report.schema_errors, report.checks)
    assert report.document == DOC
    sig = report.signature
    assert sig.present and sig.intact and sig.trusted
    assert "Mario Rossi" in sig.signer
    assert sig.signing_time is not None and sig.signing_time.tzinfo is not None
    assert report.to_json()["signature"]["intact"] is True


def test_p7m_without_trust_store_is_valid_but_trust_unknown(p7m):
    report = read_invoice(p7m, file_name=P7M_NAME)
    assert report.valid
    assert report.signature.intact is True
    assert report.signature.trusted is None


@needs_openssl
def test_openssl_cades_p7m(signer):
    der = signer.openssl_sign(write_invoice(DOC))
    for data in (der, base64.encodebytes(der)):
        report = read_invoice(data, file_name=P7M_NAME, trust=signer.trust)
        assert report.valid, (report.schema_errors, report.checks, report.error)
        assert report.signature.intact and report.signature.trusted
        assert report.document == DOC


@pytest.mark.parametrize("kind", ["der", "base64-lines"])
def test_tampered_p7m_is_00102_but_content_is_still_read(p7m, signer, kind):
    bad = bytearray(p7m)
    i = bad.find(b"Servizio di consulenza")
    bad[i] = ord("X")
    report = read_invoice(_wrap(kind, bytes(bad)), file_name=P7M_NAME, trust=signer.trust)
    assert report.readable
    assert report.codes == ("00102",)
    assert report.signature.intact is False
    assert report.signature.reason
    assert report.document.bodies[0].lines[0].description.startswith("Xervizio")


def test_p7m_signed_by_unknown_ca_is_intact_but_not_trusted(p7m):
    from wpec_invoicing.cms import TrustStore
    from wpec_invoicing.cms.certs import make_ca

    _key, other_ca = make_ca("Some Other CA")
    report = read_invoice(p7m, trust=TrustStore([other_ca]))
    assert report.signature.intact is True
    assert report.signature.trusted is False
    assert "00102" not in report.codes


def test_der_that_is_not_cms_is_unreadable_with_00102():
    junk = bytes([0x30, 0x82, 0x01, 0x00]) + b"\x05" * 300
    report = read_invoice(junk)
    assert not report.readable
    assert "CMS" in report.error or "p7m" in report.error
    assert report.codes == ("00102",)


def test_detached_signature_is_not_an_invoice(signer):
    from wpec_invoicing.cms import sign_detached

    sig = sign_detached(write_invoice(DOC), signer.key, signer.cert)
    report = read_invoice(sig)
    assert not report.readable
    assert "content" in report.error


def test_p7m_of_something_that_is_not_xml_is_unreadable(signer):
    report = read_invoice(signer.sign(b"%PDF-1.4 not an invoice"))
    assert not report.readable
    assert report.container == "p7m-der"
    assert report.signature is not None and report.signature.intact


def test_base64_of_plain_xml_is_read_with_a_warning():
    report = read_invoice(base64.encodebytes(write_invoice(sample_invoice())))
    assert report.valid
    assert report.container == "xml"
    assert any("base64" in w for w in report.warnings)


def test_base64_of_something_that_is_not_cms_is_00102():
    junk = base64.encodebytes(bytes([0x30, 0x82, 0x01, 0x00]) + b"\x05" * 300)
    report = read_invoice(junk)
    assert not report.readable
    assert report.codes == ("00102",)


def test_plain_text_is_00200():
    report = read_invoice(b"Gentile cliente, in allegato la fattura.")
    assert not report.readable
    assert report.codes == ("00200",)


FAKE_XADES = (
    b'<ds:Signature Id="s1"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="c"/>'
    b'<ds:SignatureMethod Algorithm="s"/><ds:Reference><ds:DigestMethod Algorithm="d"/>'
    b"<ds:DigestValue>AA==</ds:DigestValue></ds:Reference></ds:SignedInfo>"
    b"<ds:SignatureValue>AA==</ds:SignatureValue></ds:Signature>"
)


def _xades(cert_der: bytes) -> bytes:
    """A ds:Signature shaped like XAdES-BES (what signing tools produce), not a valid one."""
    b64 = base64.b64encode(cert_der)
    return (
        b'<ds:Signature Id="s1"><ds:SignedInfo>'
        b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>'
        b'<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"/>'
        b'<ds:Reference URI=""><ds:Transforms><ds:Transform '
        b'Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>'
        b'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>'
        b"<ds:DigestValue>" + base64.b64encode(b"d" * 32) + b"</ds:DigestValue></ds:Reference>"
        b"</ds:SignedInfo><ds:SignatureValue>" + base64.b64encode(b"s" * 256)
        + b"</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>" + b64
        + b"</ds:X509Certificate></ds:X509Data></ds:KeyInfo><ds:Object>"
        b'<xades:QualifyingProperties xmlns:xades="http://uri.etsi.org/01903/v1.3.2#" '
        b'Target="#s1"><xades:SignedProperties><xades:SignedSignatureProperties>'
        b"<xades:SigningTime>2026-01-15T10:00:00+01:00</xades:SigningTime>"
        b"</xades:SignedSignatureProperties></xades:SignedProperties>"
        b"</xades:QualifyingProperties></ds:Object></ds:Signature>"
    )


def _enveloped(signature: bytes) -> bytes:
    return write_invoice(DOC).replace(
        b"</p:FatturaElettronica>", signature + b"</p:FatturaElettronica>"
    )


@pytest.mark.parametrize("lenient", [False, True])
def test_an_arbitrary_ds_signature_does_not_sign_an_fpa12(lenient):
    report = read_invoice(_enveloped(FAKE_XADES), file_name="IT01234567897_00001.xml",
                          lenient=lenient)
    assert report.schema_valid  # the XSD accepts it: only the signature rule can say no
    assert report.codes == ("00102",)
    assert not report.valid
    assert report.signature.present and report.signature.intact is False
    assert "not an XAdES-BES signature" in report.signature.reason
    assert "X509Certificate" in report.checks[0].message


@pytest.mark.parametrize("lenient", [False, True])
def test_a_well_shaped_xades_with_a_forged_value_is_00102(signer, lenient):
    """Shaped like XAdES-BES (what signing tools produce) but not signed: it is verified now
    (see test_xades.py for real signatures), so the forged value is 00102, not a warning."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from wpec_invoicing.fatturapa import xades

    xml = _enveloped(_xades(signer.cert.public_bytes(Encoding.DER)))
    report = read_invoice(xml, file_name="IT01234567897_00001.xml", lenient=lenient)
    assert report.schema_valid, report.schema_errors
    assert report.codes == ("00102",)
    assert not report.valid
    sig = report.signature
    assert sig.present and sig.intact is False and sig.trusted is None
    assert "Mario Rossi" in sig.signer
    assert sig.signing_time.isoformat() == "2026-01-15T10:00:00+01:00"
    assert "signature value does not verify" in sig.reason
    assert "signature value does not verify" in report.checks[0].message
    assert not [w for w in report.warnings if w.startswith(xades.NOT_VERIFIED)]
    assert report.to_json()["signature"]["intact"] is False


def test_zip_is_refused_with_a_pointer_to_import():
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("IT01234567897_00001.xml", write_invoice(DOC))
    report = read_invoice(buf.getvalue(), file_name="IT01234567897_00001.zip")
    assert not report.readable
    assert report.error.startswith("zip archives are not supported by invoice validate")
    assert "wpec import" in report.error
    assert "DOCTYPE" not in report.error and "well-formed" not in report.error
    assert report.codes == ("00200",)
