"""Enveloped XAdES-BES signatures, made here with signxml and a test CA, read by `read_invoice`.

Real signatures, no mocks: every verdict below comes from verifying bytes that a signer made
(or that were changed after signing).
"""

from __future__ import annotations

import base64
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.xades import XAdESSigner

from wpec_invoicing.cms import TrustStore
from wpec_invoicing.cms.certs import issue_certificate, make_ca
from wpec_invoicing.fatturapa import read_invoice, write_invoice
from wpec_invoicing.fatturapa import xades as xades_module
from wpec_invoicing.fatturapa.samples import sample_invoice

from .conftest import GOOD_NAME

C14N_10 = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
C14N_11 = "http://www.w3.org/2006/12/xml-c14n11"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
DS = "{http://www.w3.org/2000/09/xmldsig#}"


class _LegacySha1Signer(XAdESSigner):
    """signxml refuses to make SHA-1 signatures; old signing tools made them."""

    def check_deprecated_methods(self) -> None:
        return None


class _NamesAnotherCertificate(XAdESSigner):
    """Signs with one key/certificate but names another in SigningCertificateV2."""

    other: x509.Certificate

    def add_signing_certificate(self, signed_signature_properties, sig_root, signing_settings):
        super().add_signing_certificate(
            signed_signature_properties, sig_root,
            replace(signing_settings, cert_chain=[self.other]),
        )


class _LeavesSignedPropertiesUnsigned(XAdESSigner):
    """A XAdES whose SignedInfo does not reference its SignedProperties."""

    def _add_reference_to_signed_info(self, sig_root, node_to_reference, **attrs):
        if attrs.get("Type") != "http://uri.etsi.org/01903#SignedProperties":
            super()._add_reference_to_signed_info(sig_root, node_to_reference, **attrs)


def xades_sign(
    xml: bytes, key, cert, *, chain=(), method: str = "rsa-sha256", digest: str = "sha256",
    c14n: str = C14N_10, signer_class: type[XAdESSigner] = XAdESSigner, **attrs,
) -> bytes:
    """`xml` with an enveloped XAdES-BES signature (what signing tools put in the file)."""
    signer = signer_class(signature_algorithm=method, digest_algorithm=digest,
                          c14n_algorithm=c14n)
    for name, value in attrs.items():
        setattr(signer, name, value)
    signed = signer.sign(etree.fromstring(xml), key=key, cert=[cert, *chain])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")


@pytest.fixture(scope="module")
def fpa12_xml() -> bytes:
    return write_invoice(sample_invoice(format="FPA12"))


@pytest.fixture(scope="module")
def signed(signer, fpa12_xml) -> bytes:
    return xades_sign(fpa12_xml, signer.key, signer.cert)


def _no_not_verified(report) -> bool:
    return not [w for w in report.warnings if w.startswith(xades_module.NOT_VERIFIED)]


# ----------------------------------------------------------------------- valid signatures


@pytest.mark.parametrize("lenient", [False, True])
def test_a_valid_xades_is_intact_and_the_fpa12_counts_as_signed(signed, lenient):
    report = read_invoice(signed, file_name=GOOD_NAME, lenient=lenient)
    sig = report.signature
    assert sig.present and sig.intact is True, sig.reason
    assert sig.trusted is None and sig.reason is None  # no trust store: trust unknown
    assert "CN=Mario Rossi" in sig.signer
    assert sig.signing_time is not None and sig.signing_time.tzinfo is not None
    assert abs(datetime.now(UTC) - sig.signing_time) < timedelta(hours=1)
    assert sig.digest_algorithm == "sha256"
    assert report.format == "FPA12"
    assert "00102" not in report.codes  # neither "not valid" nor "must be signed"
    assert report.valid, (report.schema_errors, report.checks)
    assert _no_not_verified(report)
    assert [w for w in report.warnings if "XAdES" in w] == []
    assert report.to_json()["signature"]["intact"] is True


@pytest.mark.parametrize(
    ("method", "digest", "c14n"),
    [
        ("rsa-sha384", "sha384", C14N_10),
        ("rsa-sha512", "sha512", C14N_10),
        ("rsa-sha256", "sha256", C14N_11),  # the same bytes as 1.0 without xml:* attributes
    ],
)
def test_other_hashes_and_canonicalizations_verify(signer, fpa12_xml, method, digest, c14n):
    report = read_invoice(xades_sign(fpa12_xml, signer.key, signer.cert, method=method,
                                     digest=digest, c14n=c14n))
    assert report.signature.intact is True, report.signature.reason
    assert report.signature.digest_algorithm == method.rpartition("-")[2]
    assert report.valid


def test_a_signxml_exclusive_c14n_signature_is_judged_by_the_spec(signer, fpa12_xml):
    """signxml's XAdES signer digests its SignedProperties reference with the exclusive
    algorithm but declares no transform; by XML-DSig a reference without transforms is
    canonicalized inclusively, so that signature does not verify."""
    report = read_invoice(xades_sign(fpa12_xml, signer.key, signer.cert, c14n=EXC_C14N))
    assert report.signature.intact is False
    assert "signed properties were modified" in report.signature.reason


def test_an_ecdsa_signature_verifies(signer, fpa12_xml):
    ca_key, ca_cert = make_ca("XAdES EC Test CA")
    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.now(UTC) - timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Lucia Verdi")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=30))
        .sign(ca_key, hashes.SHA256())
    )
    report = read_invoice(xades_sign(fpa12_xml, key, cert, method="ecdsa-sha256"),
                          trust=TrustStore([ca_cert]))
    assert report.signature.intact is True, report.signature.reason
    assert report.signature.trusted is True
    assert report.signature.signer == "CN=Lucia Verdi"


def test_an_fpr12_with_xades_is_intact_too(signer):
    xml = write_invoice(sample_invoice(format="FPR12", lines=3))
    report = read_invoice(xades_sign(xml, signer.key, signer.cert))
    assert report.signature.intact is True and report.valid


# ----------------------------------------------------------------------------- trust


def test_trusted_with_the_test_ca_none_without_false_with_another(signer, signed):
    assert read_invoice(signed).signature.trusted is None
    trusted = read_invoice(signed, trust=signer.trust).signature
    assert trusted.intact is True and trusted.trusted is True and trusted.reason is None
    _key, other_ca = make_ca("Some Other CA")
    other = read_invoice(signed, trust=TrustStore([other_ca])).signature
    assert other.intact is True and other.trusted is False
    assert "unknown issuer" in other.reason


def test_an_intermediate_carried_in_keyinfo_completes_the_chain(signer, fpa12_xml):
    root_key, root = make_ca("XAdES Root CA")
    # an intermediate CA issued by the root: make_ca is self-signed, so re-issue its cert
    inter_key, inter_self = make_ca("XAdES Intermediate CA")
    inter = (
        x509.CertificateBuilder()
        .subject_name(inter_self.subject)
        .issuer_name(root.subject)
        .public_key(inter_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(inter_self.not_valid_before_utc)
        .not_valid_after(inter_self.not_valid_after_utc)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(root_key, hashes.SHA256())
    )
    key, cert = issue_certificate(inter_key, inter, "Anna Bianchi")
    xml = xades_sign(fpa12_xml, key, cert, chain=[inter])
    sig = read_invoice(xml, trust=TrustStore([root])).signature
    assert sig.intact is True and sig.trusted is True, sig.reason
    assert "Anna Bianchi" in sig.signer


def test_a_certificate_expired_at_signing_time_is_intact_untrusted_00100(fpa12_xml):
    ca_key, ca_cert = make_ca("XAdES Expiry CA")
    key, cert = issue_certificate(ca_key, ca_cert, "Firmatario Scaduto",
                                  not_before=datetime.now(UTC) - timedelta(days=30), days=10)
    xml = xades_sign(fpa12_xml, key, cert)
    assert read_invoice(xml).signature.intact is True  # integrity does not depend on dates
    report = read_invoice(xml, trust=TrustStore([ca_cert]))
    assert report.signature.intact is True and report.signature.trusted is False
    assert "expired" in report.signature.reason
    assert report.codes == ("00100",)


# ------------------------------------------------------------------- broken signatures


@pytest.mark.parametrize("lenient", [False, True])
def test_a_value_changed_after_signing_is_00102(signed, lenient):
    tampered = signed.replace(b"<ImportoTotaleDocumento>", b"<ImportoTotaleDocumento>1", 1)
    assert tampered != signed
    report = read_invoice(tampered, lenient=lenient)
    sig = report.signature
    assert sig.present and sig.intact is False
    assert "the document was modified after signing (reference digest mismatch)" in sig.reason
    assert "CN=Mario Rossi" in sig.signer  # still says who signed what was changed
    assert report.codes == ("00102",)
    assert "the document was modified after signing" in report.checks[0].message
    assert not report.valid
    assert _no_not_verified(report)


def test_a_tampered_signature_value_is_00102(signed):
    text = re.search(rb"<ds:SignatureValue>([^<]+)<", signed).group(1)
    raw = bytearray(base64.b64decode(text))
    raw[10] ^= 0x01
    tampered = signed.replace(text, base64.b64encode(bytes(raw)))
    report = read_invoice(tampered)
    assert report.signature.intact is False
    assert "signature value does not verify" in report.signature.reason
    assert report.codes == ("00102",)


def test_changed_signed_properties_are_00102(signed):
    tampered = re.sub(rb"<xades:SigningTime>\d{4}", b"<xades:SigningTime>2020", signed)
    assert tampered != signed
    report = read_invoice(tampered)
    assert report.signature.intact is False
    assert "signed properties were modified after signing" in report.signature.reason
    assert report.codes == ("00102",)


def test_a_certificate_other_than_the_one_signed_properties_names_is_00102(signer, fpa12_xml):
    ca_key, ca_cert = make_ca("XAdES Other CA")
    _key, other = issue_certificate(ca_key, ca_cert, "Qualcun Altro")
    xml = xades_sign(fpa12_xml, signer.key, signer.cert, signer_class=_NamesAnotherCertificate,
                     other=other)
    report = read_invoice(xml, trust=signer.trust)
    sig = report.signature
    assert sig.intact is False
    assert "is not the one SignedProperties names" in sig.reason
    assert sig.trusted is None  # no trust verdict on a broken signature
    assert report.codes == ("00102",)


def test_unsigned_signed_properties_are_00102(signer, fpa12_xml):
    xml = xades_sign(fpa12_xml, signer.key, signer.cert,
                     signer_class=_LeavesSignedPropertiesUnsigned)
    report = read_invoice(xml)
    assert report.signature.intact is False
    assert "no reference to the XAdES SignedProperties" in report.signature.reason
    assert report.codes == ("00102",)


def test_a_certificate_swapped_in_keyinfo_is_00102(signer, signed):
    _key, impostor = issue_certificate(signer.key, signer.ca_cert, "Impostore")
    der = impostor.public_bytes(Encoding.DER)
    swapped = re.sub(rb"<ds:X509Certificate>[^<]+<",
                     b"<ds:X509Certificate>" + base64.b64encode(der) + b"<", signed)
    sig = read_invoice(swapped).signature
    assert sig.intact is False and "Impostore" in sig.signer


def test_the_structural_refusals_still_hold(signed):
    no_cert = re.sub(rb"<ds:X509Data>.*?</ds:X509Data>", b"", signed, flags=re.S)
    sig = read_invoice(no_cert).signature
    assert sig.intact is False and "no signing certificate" in sig.reason
    no_props = re.sub(rb"<ds:Object>.*?</ds:Object>", b"", signed, flags=re.S)
    sig = read_invoice(no_props).signature
    assert sig.intact is False and "QualifyingProperties" in sig.reason
    no_whole = signed.replace(b'URI=""', b'URI="#nowhere"', 1)
    sig = read_invoice(no_whole).signature
    assert sig.intact is False and 'URI=""' in sig.reason


def test_a_second_signed_info_cannot_lend_its_whole_document_reference(signed):
    """The verified SignedInfo is the first: a second one must not satisfy URI=\"\"."""
    root = etree.fromstring(signed)
    sig = root.find(f"{DS}Signature")
    info = sig.find(f"{DS}SignedInfo")
    decoy = etree.fromstring(etree.tostring(info))
    whole = next(r for r in info if r.get("URI") == "")
    info.remove(whole)
    sig.insert(1, decoy)
    report = read_invoice(etree.tostring(root))
    assert report.signature.intact is False
    assert "2 SignedInfo elements" in report.signature.reason


def test_a_reference_outside_the_document_is_refused_and_not_fetched(signed):
    root = etree.fromstring(signed)
    info = root.find(f"{DS}Signature/{DS}SignedInfo")
    ref = etree.SubElement(info, f"{DS}Reference", URI="http://127.0.0.1:9/fattura.xml")
    etree.SubElement(ref, f"{DS}DigestMethod",
                     Algorithm="http://www.w3.org/2001/04/xmlenc#sha256")
    etree.SubElement(ref, f"{DS}DigestValue").text = base64.b64encode(b"x" * 32).decode()
    report = read_invoice(etree.tostring(root))
    assert report.signature.intact is False
    assert "outside the document" in report.signature.reason
    assert report.codes == ("00102",)


# ------------------------------------------------------- what cannot be verified exactly


def _with_transform(signed: bytes, algorithm: str) -> bytes:
    root = etree.fromstring(signed)
    ref = next(r for r in root.iter(f"{DS}Reference") if r.get("URI") == "")
    etree.SubElement(ref.find(f"{DS}Transforms"), f"{DS}Transform", Algorithm=algorithm)
    return etree.tostring(root)


def test_an_xpath_transform_is_not_verified_not_failed(signed):
    xml = _with_transform(signed, "http://www.w3.org/TR/1999/REC-xpath-19991116")
    report = read_invoice(xml, file_name=GOOD_NAME)
    sig = report.signature
    assert sig.present and sig.intact is None
    assert "unsupported transform" in sig.reason
    assert "00102" not in report.codes  # an FPA12 with it counts as signed, with a warning
    assert [w for w in report.warnings if w.startswith(xades_module.NOT_VERIFIED)] == [
        xades_module.not_verified_warning(sig)
    ]


def test_a_standard_canonicalization_signxml_lacks_is_not_verified(signed):
    xml = signed.replace(C14N_10.encode(), b"http://www.w3.org/2010/xml-c14n2", 1)
    sig = read_invoice(xml).signature
    assert sig.intact is None and "unsupported canonicalization" in sig.reason


@pytest.mark.parametrize("algorithm", [
    C14N_10, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmlenc#sha256",
])
def test_a_garbled_algorithm_on_a_tampered_invoice_is_still_00102(signed, algorithm):
    tampered = signed.replace(b"<Numero>", b"<Numero>9", 1)
    xml = tampered.replace(algorithm.encode(), algorithm.encode() + b"x", 1)
    report = read_invoice(xml)
    assert report.signature.intact is False
    assert "not an XML-DSig algorithm" in report.signature.reason
    assert report.codes == ("00102",)


def test_inclusive_c14n_under_xml_attributes_is_not_verified(signer, fpa12_xml):
    xml = fpa12_xml.replace(b"<p:FatturaElettronica ", b'<p:FatturaElettronica xml:lang="it" ', 1)
    signed = xades_sign(xml, signer.key, signer.cert, c14n=C14N_11)
    sig = read_invoice(signed).signature
    assert sig.intact is None and "xml:* attributes" in sig.reason
    assert "00102" not in read_invoice(signed).codes


def test_an_older_xades_namespace_is_not_verified_not_failed(signed):
    xml = signed.replace(b"http://uri.etsi.org/01903/v1.3.2#", b"http://uri.etsi.org/01903/v1.2.2#")
    report = read_invoice(xml, file_name=GOOD_NAME)
    assert report.signature.intact is None and "v1.2.2" in report.signature.reason
    assert "00102" not in report.codes


def test_with_comments_on_the_whole_document_is_not_verified_when_it_has_comments(
    signer, fpa12_xml,
):
    xml = fpa12_xml.replace(b"<FatturaElettronicaBody>", b"<!-- nota --><FatturaElettronicaBody>")
    signed = xades_sign(xml, signer.key, signer.cert, c14n=C14N_10 + "#WithComments")
    sig = read_invoice(signed).signature
    assert sig.intact is None and "#WithComments" in sig.reason
    without = xades_sign(fpa12_xml, signer.key, signer.cert, c14n=C14N_10 + "#WithComments")
    assert read_invoice(without).signature.intact is True


def test_sha1_verifies_with_a_warning(signer, fpa12_xml):
    xml = xades_sign(fpa12_xml, signer.key, signer.cert, method="rsa-sha1", digest="sha1",
                     signer_class=_LegacySha1Signer)
    report = read_invoice(xml)
    assert report.signature.intact is True and report.signature.digest_algorithm == "sha1"
    assert xades_module.SHA1_WEAK in report.warnings
    tampered = read_invoice(xml.replace(b"<Numero>", b"<Numero>7", 1))
    assert tampered.signature.intact is False and xades_module.SHA1_WEAK not in tampered.warnings


# ------------------------------------------------------------------ hostile signatures


def _signed_parts(xml: bytes) -> tuple | None:
    """What a signature's validity rests on, canonicalized (None when it cannot be read)."""
    try:
        root = etree.fromstring(xml)
        sig = root.find(f"{DS}Signature")
        parts = [etree.tostring(sig.find(f"{DS}SignedInfo"), method="c14n"),
                 base64.b64decode("".join(sig.findtext(f"{DS}SignatureValue").split())),
                 etree.tostring(sig.find(f"{DS}KeyInfo"), method="c14n")]
        props = next(e for e in sig.iter() if etree.QName(e).localname == "SignedProperties")
        parts.append(etree.tostring(props, method="c14n"))
        sig.getparent().remove(sig)
        parts.append(etree.tostring(root, method="c14n"))
        return tuple(parts)
    except Exception:
        return None


ALPHABET = st.sampled_from([*"<>/=\"'&;:# \nAaZz09+-_.xX", "ds:", "&amp;", "]]>", "\x00"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_mutation_of_the_signature_is_a_verdict_never_a_crash(signed, data):
    start = signed.index(b"<ds:Signature")
    end = signed.index(b"</ds:Signature>") + len(b"</ds:Signature>")
    at = data.draw(st.integers(start, end - 1), label="at")
    cut = data.draw(st.integers(0, 12), label="cut")
    insert = "".join(data.draw(st.lists(ALPHABET, max_size=3), label="insert")).encode()
    mutated = signed[:at] + insert + signed[at + cut:]
    report = read_invoice(mutated, file_name=GOOD_NAME)
    assert not report.internal_error, report.error
    sig = report.signature
    if sig is not None and sig.intact is True:
        # only a change that leaves every signed part as it was may still verify
        assert _signed_parts(mutated) == _signed_parts(signed), (at, cut, insert)
    if sig is not None and sig.intact is None:
        assert any(w.startswith(xades_module.NOT_VERIFIED) for w in report.warnings)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=40))
def test_garbage_in_any_element_of_the_signature_is_a_verdict(signed, text):
    root = etree.fromstring(signed)
    elements = [e for e in root.find(f"{DS}Signature").iter() if isinstance(e.tag, str)]
    clean = "".join(ch for ch in text if ch.isprintable())
    for index in (0, len(elements) // 3, len(elements) // 2, len(elements) - 1):
        copy = etree.fromstring(signed)
        target = [e for e in copy.find(f"{DS}Signature").iter() if isinstance(e.tag, str)][index]
        target.text = clean
        report = read_invoice(etree.tostring(copy))
        assert not report.internal_error, report.error
        assert report.signature is not None
        assert report.signature.intact is not True or _signed_parts(
            etree.tostring(copy)) == _signed_parts(signed)
    assert elements


# ------------------------------------------------------------- found in the audit (fixed)


def test_a_comment_inside_a_signed_value_does_not_change_the_value_read(signed):
    """URI="" signs the document without comments, so the signature still verifies: the
    value read must be the one signed (and the one the XSD validated), 28.06, not "2"."""
    assert b"<ImportoTotaleDocumento>28.06<" in signed
    report = read_invoice(signed.replace(b"<ImportoTotaleDocumento>28.06<",
                                         b"<ImportoTotaleDocumento>2<!---->8.06<"),
                          file_name=GOOD_NAME)
    assert report.signature.intact is True
    assert str(report.document.bodies[0].total) == "28.06"


def test_the_xmldsig_namespace_written_with_a_character_reference_is_still_found(signed):
    spelled = signed.replace(b"xmldsig#", b"xmldsig&#35;")
    report = read_invoice(spelled, file_name=GOOD_NAME)
    assert report.signature is not None and report.signature.intact is True
    assert "00102" not in report.codes
    tampered = spelled.replace(b"<ImportoTotaleDocumento>28.06<",
                               b"<ImportoTotaleDocumento>128.06<")
    assert read_invoice(tampered, file_name=GOOD_NAME).signature.intact is False


FILTER2 = ('<ds:Transform xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
           'Algorithm="http://www.w3.org/2002/06/xmldsig-filter2">'
           '<dsf:XPath xmlns:dsf="http://www.w3.org/2002/06/xmldsig-filter2" Filter="subtract">'
           '{xpath}</dsf:XPath></ds:Transform>')
XPATH10 = ('<ds:Transform xmlns:ds="http://www.w3.org/2000/09/xmldsig#" '
           'Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116">'
           '<ds:XPath>{xpath}</ds:XPath></ds:Transform>')


class FilteringSigner(XAdESSigner):
    """Writes the whole-document reference's transform the way Italian signing tools do (a
    signature-removing XPath filter) instead of the enveloped one; the digest is the same."""

    transform = FILTER2.format(xpath="/descendant::ds:Signature")

    def _build_transforms_for_reference(self, *, transforms_node, reference, **kw):
        if reference.URI != "":
            return super()._build_transforms_for_reference(
                transforms_node=transforms_node, reference=reference, **kw)
        transforms_node.append(etree.fromstring(self.transform))
        return None


@pytest.mark.parametrize("transform", [
    FILTER2.format(xpath="/descendant::ds:Signature"),
    XPATH10.format(xpath="not(ancestor-or-self::ds:Signature)"),
])
def test_signatures_removed_by_an_xpath_filter_verify(signer, fpa12_xml, transform):
    signed = xades_sign(fpa12_xml, signer.key, signer.cert, signer_class=FilteringSigner,
                        transform=transform)
    assert b"xmldsig-filter2" in signed or b"REC-xpath-19991116" in signed
    assert b"enveloped-signature" not in signed.split(b"SignedProperties")[0]
    report = read_invoice(signed, file_name=GOOD_NAME)
    assert report.signature.intact is True, report.signature.reason
    assert report.valid and _no_not_verified(report)
    tampered = signed.replace(b"<ImportoTotaleDocumento>28.06<",
                              b"<ImportoTotaleDocumento>128.06<")
    broken = read_invoice(tampered, file_name=GOOD_NAME)
    assert broken.signature.intact is False and "00102" in broken.codes


def test_another_xpath_filter_is_not_verified_not_called_broken(signer, fpa12_xml):
    signed = xades_sign(fpa12_xml, signer.key, signer.cert, signer_class=FilteringSigner,
                        transform=FILTER2.format(xpath="/descendant::ds:Object"))
    report = read_invoice(signed, file_name=GOOD_NAME)
    assert report.signature.intact is None
    assert "00102" not in report.codes
    assert not _no_not_verified(report)


def test_too_many_references_are_not_canonicalized_one_by_one(signed):
    ref = re.search(rb"<ds:Reference URI=\"\"[^>]*>.*?</ds:Reference>", signed, re.S)
    assert ref is not None
    many = signed.replace(ref.group(0), ref.group(0) * 50, 1)
    report = read_invoice(many, file_name=GOOD_NAME)
    assert report.signature.intact is None
    assert "references" in report.signature.reason
