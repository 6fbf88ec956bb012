"""A trusted list in the ETSI TS 119 612 format, signed (enveloped XML-DSig) by a test key."""

from __future__ import annotations

import base64
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

T = "http://uri.etsi.org/02231/v2#"
SVC = "http://uri.etsi.org/TrstSvc/Svctype/"
STATUS = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"


def _el(parent: Any, tag: str, text: str | None = None, **attrs: str) -> Any:
    el = etree.SubElement(parent, f"{{{T}}}{tag}", **attrs)
    if text is not None:
        el.text = text
    return el


def _name(parent: Any, tag: str, text: str) -> None:
    holder = _el(parent, tag)
    _el(holder, "Name", text, **{"{http://www.w3.org/XML/1998/namespace}lang": "en"})


def trusted_list(services: list[tuple[str, str, str, x509.Certificate]],
                 *, territory: str = "IT", sequence: int = 42) -> Any:
    """An unsigned list: services are (provider, type suffix, status suffix, certificate)."""
    root = etree.Element(f"{{{T}}}TrustServiceStatusList", nsmap={"tsl": T},
                         TSLTag="http://uri.etsi.org/19612/TSLTag", Id="TSL")
    info = _el(root, "SchemeInformation")
    _el(info, "TSLVersionIdentifier", "5")
    _el(info, "TSLSequenceNumber", str(sequence))
    _el(info, "TSLType", "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUgeneric")
    _name(info, "SchemeOperatorName", "Test Supervisory Body")
    _el(info, "SchemeTerritory", territory)
    _el(info, "ListIssueDateTime", "2026-11-01T00:00:00Z")
    _el(_el(info, "NextUpdate"), "dateTime", "2099-05-01T00:00:00Z")
    providers = _el(root, "TrustServiceProviderList")
    for provider, kind, status, cert in services:
        tsp = _el(providers, "TrustServiceProvider")
        _name(_el(tsp, "TSPInformation"), "TSPName", provider)
        svc = _el(_el(_el(tsp, "TSPServices"), "TSPService"), "ServiceInformation")
        _el(svc, "ServiceTypeIdentifier", SVC + kind)
        _name(svc, "ServiceName", f"{provider} service")
        der = cert.public_bytes(serialization.Encoding.DER)
        _el(_el(_el(svc, "ServiceDigitalIdentity"), "DigitalId"), "X509Certificate",
            base64.b64encode(der).decode())
        _el(svc, "ServiceStatus", STATUS + status)
        _el(svc, "StatusStartingTime", "2020-01-01T00:00:00Z")
    return root


def sign_list(root: Any, key: Any, cert: x509.Certificate) -> bytes:
    from signxml import XMLSigner, methods

    signer = XMLSigner(method=methods.enveloped, signature_algorithm="rsa-sha256",
                       digest_algorithm="sha256")
    signed = signer.sign(root, key=key, cert=[cert])
    return etree.tostring(signed, xml_declaration=True, encoding="UTF-8")
