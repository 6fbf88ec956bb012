"""ETSI TS 119 612 trusted lists: verify the list's signature, read its trust services.

Why: EU member states publish the qualified certificate authorities (and, in Italy, the
qualified registered-delivery providers behind PEC) as signed XML trusted lists. A user
adds a list with `wpec trust add-list FILE.xml --pin OPERATOR.pem`: the list counts only if
its enveloped XML signature verifies with the certificate the user pinned (the scheme
operator's, published in the EU's list of lists and the Official Journal). A list whose
bytes were changed after signing, or signed by someone else, is refused whole.

What is read, from the *verified* XML only (never from the bytes before verification, so a
signature-wrapping trick cannot smuggle services in): scheme territory, sequence number,
issue and next-update times, and every TSP service with its type, name, status and X.509
certificates. Services whose current status is granted (or the pre-eIDAS accredited /
under supervision) become trust anchors:

- `.../Svctype/CA/QC` (qualified CA) → purpose `qualified-ca`;
- `.../Svctype/EDS/REM/Q` and `.../EDS/Q` (qualified e-delivery) → purpose `pec-provider`.

Why signxml and lxml rather than pyHanko's parser: pyHanko's trusted-list support needs its
`etsi` extra (xsdata and generated bindings, plus pyHanko itself, a PDF toolkit); the part we
need is a few XPath reads over a document signxml has already verified, with signxml
(already a dependency for XAdES) doing the XML-DSig work.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime

from cryptography import x509
from lxml import etree

TSL_NS = "http://uri.etsi.org/02231/v2#"
_T = f"{{{TSL_NS}}}"
_SVC = "http://uri.etsi.org/TrstSvc/Svctype/"
_STATUS = "http://uri.etsi.org/TrstSvc/TrustedList/Svcstatus/"
_STATUS_OLD = "http://uri.etsi.org/TrstSvc/eSigDir-1999-93-EC-TrustedList/Svcstatus/"
ACTIVE_STATUSES = {
    _STATUS + "granted", _STATUS + "recognisedatnationallevel",
    _STATUS_OLD + "accredited", _STATUS_OLD + "undersupervision",
    _STATUS_OLD + "supervisionincessation",
}
PURPOSE_BY_TYPE = {
    _SVC + "CA/QC": "qualified-ca",
    _SVC + "EDS/REM/Q": "pec-provider",
    _SVC + "EDS/Q": "pec-provider",
}
MAX_LIST_BYTES = 64 * 1024 * 1024


class TrustedListError(ValueError):
    """The list is unusable: unreadable, not a trusted list, or its signature fails."""


@dataclass(frozen=True)
class Service:
    provider: str
    name: str
    type: str
    status: str
    certificates: tuple[x509.Certificate, ...]

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def purpose(self) -> str | None:
        return PURPOSE_BY_TYPE.get(self.type)


@dataclass(frozen=True)
class TrustedList:
    territory: str
    sequence: str
    issued: str
    next_update: str | None
    operator: str
    services: tuple[Service, ...] = field(default_factory=tuple)

    def anchors(self) -> list[Service]:
        """The services that count as trust anchors (active, of a type we use)."""
        return [s for s in self.services if s.active and s.purpose and s.certificates]


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                           huge_tree=False, remove_comments=False)


def verify_list(data: bytes, pinned: x509.Certificate) -> TrustedList:
    """The trusted list in `data`, if its signature verifies with `pinned`; else
    TrustedListError saying why."""
    if len(data) > MAX_LIST_BYTES:
        raise TrustedListError(f"{len(data)} bytes: over the {MAX_LIST_BYTES} bytes a list "
                               "may have")
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise TrustedListError(f"not well-formed XML: {exc}") from None
    if root.tag != f"{_T}TrustServiceStatusList":
        raise TrustedListError(f"not an ETSI TS 119 612 trusted list (root element "
                               f"{etree.QName(root).localname!r})")
    verified = _verified_root(root, pinned)
    return parse_list(verified)


def _verified_root(root: etree._Element, pinned: x509.Certificate) -> etree._Element:
    from signxml import SignatureConfiguration, XMLVerifier
    from signxml.algorithms import SignatureMethod
    from signxml.exceptions import InvalidInput, InvalidSignature, SignXMLException

    config = SignatureConfiguration(
        location="./",  # the enveloped signature, a child of the root
        expect_references=True,
        signature_methods=frozenset(m for m in SignatureMethod if not m.name.startswith("HMAC")),
    )
    try:
        results = XMLVerifier().verify(root, x509_cert=pinned, expect_config=config,
                                       parser=_parser())
    except InvalidSignature as exc:
        raise TrustedListError(f"signature does not verify with the pinned certificate "
                               f"({pinned.subject.rfc4514_string()}): {exc}") from None
    except (InvalidInput, SignXMLException) as exc:
        raise TrustedListError(f"signature cannot be verified: {exc}") from None
    except Exception as exc:
        raise TrustedListError(f"signature cannot be verified: {type(exc).__name__}: "
                               f"{exc}") from None
    for result in results if isinstance(results, list) else [results]:
        signed = result.signed_xml
        if signed is not None and signed.tag == f"{_T}TrustServiceStatusList":
            return signed
    raise TrustedListError("the signature does not cover the whole list")


def _text(el: etree._Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path)
    return (found.text or "").strip() if found is not None and found.text else ""


def _name(el: etree._Element | None) -> str:
    """The English name when there is one, else the first."""
    if el is None:
        return ""
    names = el.findall(f"{_T}Name")
    for n in names:
        if n.get("{http://www.w3.org/XML/1998/namespace}lang") == "en" and n.text:
            return n.text.strip()
    return (names[0].text or "").strip() if names else ""


def parse_list(root: etree._Element) -> TrustedList:
    """Read an (already verified) trusted list; TrustedListError on missing essentials."""
    info = root.find(f"{_T}SchemeInformation")
    if info is None:
        raise TrustedListError("no SchemeInformation")
    services: list[Service] = []
    for tsp in root.iterfind(f"{_T}TrustServiceProviderList/{_T}TrustServiceProvider"):
        provider = _name(tsp.find(f"{_T}TSPInformation/{_T}TSPName"))
        for svc in tsp.iterfind(f"{_T}TSPServices/{_T}TSPService/{_T}ServiceInformation"):
            certs = []
            for b64 in svc.iterfind(f"{_T}ServiceDigitalIdentity/{_T}DigitalId/"
                                    f"{_T}X509Certificate"):
                try:
                    certs.append(x509.load_der_x509_certificate(
                        base64.b64decode("".join((b64.text or "").split()))))
                except ValueError:
                    continue  # an unreadable certificate: the service's others still count
            services.append(Service(
                provider=provider, name=_name(svc.find(f"{_T}ServiceName")),
                type=_text(svc, f"{_T}ServiceTypeIdentifier"),
                status=_text(svc, f"{_T}ServiceStatus"), certificates=tuple(certs)))
    next_update = _text(info, f"{_T}NextUpdate/{_T}dateTime") or None
    return TrustedList(
        territory=_text(info, f"{_T}SchemeTerritory"),
        sequence=_text(info, f"{_T}TSLSequenceNumber"),
        issued=_text(info, f"{_T}ListIssueDateTime"),
        next_update=next_update,
        operator=_name(info.find(f"{_T}SchemeOperatorName")),
        services=tuple(services),
    )


def is_expired(tl: TrustedList, now: datetime) -> bool:
    """True when the list's NextUpdate has passed (a stale list: the user is told)."""
    if not tl.next_update:
        return False
    try:
        return datetime.fromisoformat(tl.next_update.replace("Z", "+00:00")) < now
    except ValueError:
        return False


__all__ = ["Service", "TrustedList", "TrustedListError", "is_expired", "parse_list",
           "verify_list"]
