"""An enveloped XAdES signature (`ds:Signature` in the invoice XML): verified, like a CAdES one.

The XML-DSig engine is signxml's `XAdESVerifier` (canonicalization, reference digests, the
signature value over SignedInfo, the SigningCertificate(V2) digest). What we decide around it:

- a `ds:Signature` that lacks what every XAdES-BES signature has — a reference to the whole
  document (`URI=""`), a non-empty SignatureValue, the signing certificate in
  `KeyInfo/X509Data/X509Certificate` (a parsable X.509 certificate) and the XAdES
  `QualifyingProperties` — is not a signature SdI could accept: `intact=False`, with the
  reason, so check 00102 reports it (and an FPA12 is not "signed" by an arbitrary element);
- integrity is checked with the certificate the signature carries (the first
  X509Certificate, as XAdES-BES writers put it), never against the system's CAs: `intact`
  says "these bytes are what the holder of that certificate signed", and SignedProperties
  must name that certificate. Its validity dates are not an integrity question (signxml's
  own date check is neutralised); they are judged, at the signing time, by `trusted`, which
  is the CAdES chain check (`TrustStore.is_trusted`), or None without a trust store;
- the signing time is read from the *verified* SignedProperties (what was signed, not the
  element that happens to sit in the file);
- only same-document references are followed (`URI=""` and `#id`): a reference to
  anything else is refused (`intact=False`) and nothing is ever fetched; the trees are
  re-parsed by signxml with our hardened parser (no network, no entities, no DTD);
- what we cannot verify exactly gives `intact=None` with the reason, never a guess: a
  standard canonicalization, transform, digest or signature algorithm that signxml does not
  implement (`KNOWN_UNSUPPORTED`: an XPath filter, C14N 2.0, ...), and inclusive
  canonicalization (C14N 1.0/1.1) when the root or the signature carry `xml:*` attributes —
  lxml has no C14N 1.1 and signxml's subtree copies lose inherited `xml:*` attributes;
  without them both give the same bytes, so C14N 1.1 is accepted there. An identifier that
  is no algorithm at all is `intact=False` (a garbled URI must not turn a tampered invoice's
  00102 into a warning). Also None: a XAdES namespace other than 1.3.2 (the old 1.1.1/1.2.2
  ones), and `#WithComments` on `URI=""` in a document with comments (the URI drops them);
- more than `MAX_REFERENCES` references are not verified (intact None): each one makes
  signxml canonicalize its target again, so a self-signed file with thousands would cost
  minutes;
- the whole-document reference may remove the signature with the enveloped transform or,
  as Italian signing tools write it, with the XPath filter that does the same
  (`removes_signatures`: Filter 2.0 `subtract /descendant::ds:Signature` or XPath 1.0
  `not(ancestor-or-self::ds:Signature)`, in a document with one signature); any other XPath
  is not computed (intact None);
- `intact=None` is no proof either way: anyone can write a signature we cannot verify. The
  file keeps `valid` (SdI verifies such signatures), with the warning; a caller that needs
  proof requires `intact is True`, exactly as before this module verified anything;
- SHA-1 (signature method or reference digest) is verified and, when intact, reported with a
  warning (`SHA1_WEAK`). Why not refuse: SHA-1 still has no practical second-preimage
  attack, so a third party cannot alter a SHA-1-signed invoice undetected, and old archives
  are full of them (the CAdES side accepts SHA-1 too, for legacy PEC signers). Why warn: collisions
  let a signer prepare two documents with one signature, and current Italian rules for
  qualified signatures require SHA-256 or stronger, so SdI may refuse it today.

Pure: elements in, a `SignatureVerdict` (and warnings) out; never raises.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from lxml import etree

if TYPE_CHECKING:  # pragma: no cover
    from cryptography import x509

    from wpec_invoicing.cms import SignatureVerdict, TrustStore

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
NS_XML = "http://www.w3.org/XML/1998/namespace"
XADES_PREFIX = "http://uri.etsi.org/01903/"
NS_XADES_132 = "http://uri.etsi.org/01903/v1.3.2#"
NOT_VERIFIED = "enveloped XAdES signature found but not verified"
SHA1_WEAK = (
    "the XAdES signature uses SHA-1, a weak hash: it verifies, but SdI may refuse it "
    "(qualified signatures require SHA-256 or stronger)"
)
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SIGNED_PROPERTIES_TYPE = "http://uri.etsi.org/01903#SignedProperties"

_DS = f"{{{NS_DS}}}"
_XML = f"{{{NS_XML}}}"


# Standard algorithms signxml cannot compute: a signature using one is not verifiable here
# (intact None). An identifier that is neither these nor one signxml knows is not an algorithm
# at all (intact False): otherwise garbling a URI of a tampered file would buy it a warning
# instead of 00102.
KNOWN_UNSUPPORTED = frozenset({
    "http://www.w3.org/2010/xml-c14n2",
    "http://www.w3.org/TR/1999/REC-xpath-19991116",
    "http://www.w3.org/2002/06/xmldsig-filter2",
    "http://www.w3.org/TR/1999/REC-xslt-19991116",
    "http://www.w3.org/2000/09/xmldsig#base64",
    "http://www.w3.org/2002/07/decrypt#XML",
    "http://www.w3.org/2007/05/xmldsig-more#rsa-pss",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-md5",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-ripemd160",
    "http://www.w3.org/2001/04/xmldsig-more#md5",
    "http://www.w3.org/2001/04/xmlenc#ripemd160",
})


class _Unverifiable(Exception):
    """A signature we cannot verify exactly (intact=None): the message says why."""


class _Broken(Exception):
    """A signature that is certainly not valid (intact=False): the message says why."""


def _local(el: etree._Element) -> str:
    return el.tag.rpartition("}")[2] if isinstance(el.tag, str) else ""


def _ns(el: etree._Element) -> str:
    return el.tag[1:].partition("}")[0] if isinstance(el.tag, str) and el.tag[0] == "{" else ""


def not_verified_warning(verdict: SignatureVerdict) -> str:
    """The reader's warning for a signature we could not verify (intact None), with why."""
    return f"{NOT_VERIFIED}: {verdict.reason}" if verdict.reason else NOT_VERIFIED


# ------------------------------------------------------------------------- structure


def _certificates(sig: etree._Element) -> list[x509.Certificate]:
    """The X.509 certificates of KeyInfo/X509Data, in document order (ValueError if one is
    not a certificate)."""
    from cryptography import x509

    certs = []
    for el in sig.iterfind(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate"):
        der = base64.b64decode("".join((el.text or "").split()), validate=True)
        certs.append(x509.load_der_x509_certificate(der))
    return certs


def _claimed_signing_time(container: etree._Element) -> datetime | None:
    """The first SigningTime under `container`, when it is a timezone-aware xs:dateTime."""
    for el in container.iter():
        if _local(el) == "SigningTime" and el.text:
            try:
                when = datetime.fromisoformat(el.text.strip().replace("Z", "+00:00"))
            except ValueError:
                return None
            return when if when.tzinfo is not None else None
    return None


def inspect_signature(sig: etree._Element) -> SignatureVerdict:
    """The structural verdict of a `ds:Signature`: intact False when it is not shaped like
    XAdES-BES (see the module doc), else intact None (shape only: not verified yet)."""
    from wpec_invoicing.cms import SignatureVerdict

    problems: list[str] = []
    for name in ("SignedInfo", "SignatureValue", "KeyInfo"):
        # one of each (the XML-DSig schema): a second SignedInfo could show a whole-document
        # reference that the verified (first) one does not have
        count = len(sig.findall(f"{_DS}{name}"))
        if count > 1:
            problems.append(f"{count} {name} elements (one expected)")
    info = sig.find(f"{_DS}SignedInfo")
    refs = info.findall(f"{_DS}Reference") if info is not None else []
    if not any(r.get("URI") == "" for r in refs):
        problems.append('no Reference to the whole document (URI="")')
    value = "".join((sig.findtext(f"{_DS}SignatureValue") or "").split())
    if len(value) < 16:
        problems.append("empty or too short SignatureValue")

    signer = None
    if sig.find(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate") is None:
        problems.append("no signing certificate (KeyInfo/X509Data/X509Certificate)")
    else:
        try:
            signer = _certificates(sig)[0].subject.rfc4514_string()
        except (ValueError, binascii.Error) as exc:
            problems.append(f"the X509Certificate is not a certificate ({exc})")

    qualifying = [
        el for obj in sig.iterchildren(f"{_DS}Object") for el in obj
        if _local(el) == "QualifyingProperties" and _ns(el).startswith(XADES_PREFIX)
    ]
    signing_time = None
    if not qualifying:
        problems.append("no XAdES QualifyingProperties (not XAdES, at most a bare XML-DSig)")
    else:
        signing_time = _claimed_signing_time(qualifying[0])

    if problems:
        return SignatureVerdict(
            present=True, intact=False, signer=signer, signing_time=signing_time,
            reason="the ds:Signature is not an XAdES-BES signature: " + "; ".join(problems),
        )
    return SignatureVerdict(
        present=True, intact=None, signer=signer, signing_time=signing_time,
        reason="enveloped XAdES signature: shaped like XAdES-BES, not verified yet",
    )


# ----------------------------------------------------------------- what we can verify


def _algorithm(el: etree._Element | None, what: str, enum: type) -> object:
    """The signxml enum member of an Algorithm attribute: _Unverifiable for a standard one
    signxml lacks, _Broken for a missing one or an identifier that is no algorithm."""
    name = el.get("Algorithm") if el is not None else None
    if not name:
        raise _Broken(f"no {what} Algorithm")
    try:
        return enum(name)
    except Exception:
        if name in KNOWN_UNSUPPORTED:
            raise _Unverifiable(f"unsupported {what} {name!r}") from None
        raise _Broken(f"unknown {what} {name[:80]!r} (not an XML-DSig algorithm)") from None


def _check_version(sig: etree._Element) -> None:
    """signxml reads the XAdES 1.3.2 namespace (which 1.4.1 keeps for these elements)."""
    for obj in sig.iterchildren(f"{_DS}Object"):
        for el in obj:
            if _local(el) == "QualifyingProperties" and _ns(el) != NS_XADES_132:
                raise _Unverifiable(f"XAdES namespace {_ns(el)!r} (only {NS_XADES_132!r} "
                                    "is verified here)")


MAX_REFERENCES = 8  # XAdES-BES has 2 or 3; each one costs a canonicalization of its target

NS_FILTER2 = "http://www.w3.org/2002/06/xmldsig-filter2"
XPATH_10 = "http://www.w3.org/TR/1999/REC-xpath-19991116"


def removes_signatures(transform: etree._Element) -> bool:
    """True for the two ways Italian signing tools write "the document without its
    signatures" instead of the enveloped transform, exactly as they write them: XPath Filter
    2.0 `subtract` `/descendant::ds:Signature`, or the XPath 1.0 filter
    `not(ancestor-or-self::ds:Signature)` (ds bound to xmldsig). With one signature in the
    document both select what the enveloped transform does; any other XPath is not computed."""
    algorithm = transform.get("Algorithm")
    children = [c for c in transform if isinstance(c.tag, str)]
    if len(children) != 1 or children[0].nsmap.get("ds") != NS_DS:
        return False
    xpath = "".join((children[0].text or "").split())
    if algorithm == NS_FILTER2:
        return (children[0].tag == f"{{{NS_FILTER2}}}XPath"
                and children[0].get("Filter") == "subtract"
                and xpath == "/descendant::ds:Signature")
    if algorithm == XPATH_10:
        return children[0].tag == f"{_DS}XPath" and xpath == "not(ancestor-or-self::ds:Signature)"
    return False


def _check_references(sig: etree._Element) -> None:
    """Same-document references only, the whole-document one enveloped (see the module doc)."""
    refs = sig.find(f"{_DS}SignedInfo").findall(f"{_DS}Reference")
    if len(refs) > MAX_REFERENCES:
        # each whole-document reference re-canonicalizes the whole file: a self-signed file
        # with a thousand of them would cost minutes
        raise _Unverifiable(f"{len(refs)} references (at most {MAX_REFERENCES} are verified)")
    for ref in refs:
        uri = ref.get("URI")
        if uri is None:
            raise _Unverifiable("a Reference without URI (application-defined content)")
        if uri.startswith("#xpointer("):
            raise _Unverifiable(f"an XPointer reference ({uri[:60]!r})")
        if uri != "" and not uri.startswith("#"):
            raise _Broken(
                f"a Reference to a resource outside the document ({uri[:80]!r}): not fetched, "
                "an invoice signature may only sign the invoice itself"
            )
        transforms = list(ref.iterfind(f"{_DS}Transforms/{_DS}Transform"))
        algorithms = [t.get("Algorithm") for t in transforms]
        if any(removes_signatures(t) for t in transforms):
            if uri != "":
                raise _Unverifiable(f"a signature-removing filter on the reference {uri[:60]!r}")
            if sum(1 for _ in sig.getroottree().iter(f"{_DS}Signature")) != 1:
                raise _Unverifiable("a signature-removing filter in a document with several "
                                    "signatures (not computed here)")
            continue
        if uri == "" and ENVELOPED not in algorithms:
            if any(a in KNOWN_UNSUPPORTED for a in algorithms):
                # e.g. the XPath Filter 2.0 "subtract /descendant::ds:Signature" that Italian
                # signing tools use instead of the enveloped transform: not computed here
                raise _Unverifiable('the Reference to the whole document (URI="") removes the '
                                    "signature with a filter transform not computed here")
            raise _Broken('the Reference to the whole document (URI="") lacks the '
                          "enveloped-signature transform")


def _check_algorithms(root: etree._Element, sig: etree._Element) -> list[str]:
    """Refuse (as unverifiable) what signxml cannot compute exactly; the hashes named."""
    from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod

    info = sig.find(f"{_DS}SignedInfo")
    c14n = [_algorithm(info.find(f"{_DS}CanonicalizationMethod"),
                       "canonicalization method", CanonicalizationMethod)]
    method = _algorithm(info.find(f"{_DS}SignatureMethod"), "signature method", SignatureMethod)
    if method.name.startswith(("HMAC_", "DSA_")):
        raise _Unverifiable(f"unsupported signature method {method.value!r}")
    hashes = [method.name]
    for ref in info.iterfind(f"{_DS}Reference"):
        hashes.append(_algorithm(ref.find(f"{_DS}DigestMethod"), "digest method",
                                 DigestAlgorithm).name)
        ref_c14n = []
        for transform in ref.iterfind(f"{_DS}Transforms/{_DS}Transform"):
            if transform.get("Algorithm") != ENVELOPED and not removes_signatures(transform):
                ref_c14n.append(_algorithm(transform, "transform", CanonicalizationMethod))
        # a reference without a canonicalization transform is canonicalized inclusively
        c14n += ref_c14n or [CanonicalizationMethod.CANONICAL_XML_1_0]
        if (ref.get("URI") == "" and any(m.value.endswith("#WithComments") for m in ref_c14n)
                and next(root.iter(etree.Comment), None) is not None):
            # URI="" drops comments before any transform (XML-DSig 4.3.3.3); signxml keeps them
            raise _Unverifiable('a #WithComments canonicalization of URI="" in a document '
                                "with comments (not computed exactly here)")
    inclusive = any(not m.value.startswith("http://www.w3.org/2001/10/xml-exc-c14n#")
                    for m in c14n)
    if inclusive and _has_xml_attributes(root, sig):
        raise _Unverifiable("inclusive canonicalization of parts whose ancestors carry xml:* "
                            "attributes (not computed exactly here)")
    return hashes


def _has_xml_attributes(root: etree._Element, sig: etree._Element) -> bool:
    return any(
        key.startswith(_XML) for el in (root, *sig.iter()) if isinstance(el.tag, str)
        for key in el.attrib
    )


# ------------------------------------------------------------------------ verification


def _reference_kind(sig: etree._Element, uri: str) -> str:
    """What a reference URI points at, for a reason a person understands."""
    if uri == "":
        return "the document was modified after signing"
    ident = uri[1:]
    for el in sig.iter():
        if isinstance(el.tag, str) and ident and ident in (el.get("Id"), el.get("ID")):
            if _local(el) == "SignedProperties":
                return "the XAdES signed properties were modified after signing"
            return f"the signed {_local(el)} ({uri}) was modified after signing"
    return f"the signed part {uri} was modified after signing"


def _run_signxml(root: etree._Element, cert: x509.Certificate) -> object:
    """signxml's verification of the first `ds:Signature` child of `root` with `cert`."""
    from signxml.algorithms import SignatureMethod
    from signxml.xades import XAdESSignatureConfiguration

    from wpec_invoicing.fatturapa.schema import hardened_parser

    config = XAdESSignatureConfiguration(
        location="./",  # the enveloped signature, a child of the root: no wrapping attacks
        expect_references=True,  # any number; the whole-document one is checked before
        signature_methods=frozenset(m for m in SignatureMethod if not m.name.startswith("HMAC")),
        digest_algorithms=frozenset(XAdESSignatureConfiguration().digest_algorithms
                                    | _sha1_digests()),
        # integrity is not a question of dates: trust judges them at the signing time
        verification_time=cert.not_valid_before_utc,
    )
    return _verifier_class()().verify(
        root, x509_cert=cert, expect_config=config, validate_schema=False,
        parser=hardened_parser(),
    )


def _verifier_class() -> type:
    """signxml's XAdESVerifier, taught the signature-removing filters (`removes_signatures`):
    such a transform removes the signature, as the enveloped one does, before signxml's own
    transforms (which skip what they do not know). signxml is pinned to 5.x for this
    override of its reference-transform step."""
    from signxml.util import _remove_sig
    from signxml.xades import XAdESVerifier

    class _Verifier(XAdESVerifier):
        def _apply_transforms(self, payload, *, transforms_node, signature):
            if transforms_node is not None and any(
                    removes_signatures(t) for t in transforms_node.iterfind(f"{_DS}Transform")):
                _remove_sig(signature, idempotent=True)
            return super()._apply_transforms(payload, transforms_node=transforms_node,
                                             signature=signature)

    return _Verifier


def _sha1_digests() -> frozenset:
    from signxml.algorithms import DigestAlgorithm

    return frozenset({DigestAlgorithm.SHA1})


def _verified_signing_time(results: object) -> datetime | None:
    for result in results if isinstance(results, list) else [results]:
        props = getattr(result, "signed_properties", None)
        if props is not None:
            return _claimed_signing_time(props)
    return None


def _judge(root, sig, cert, hashes, trust) -> tuple[SignatureVerdict, tuple[str, ...]]:
    """Run signxml and turn its outcome (or its exception) into a verdict."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from signxml.exceptions import InvalidDigest, InvalidInput, InvalidSignature

    try:
        results = _run_signxml(root, cert)
    except InvalidDigest as exc:
        text = str(exc)
        if "certificate digest" in text:
            raise _Broken("the signing certificate in KeyInfo is not the one SignedProperties "
                          "names (SigningCertificate digest mismatch)") from None
        uri = text.rpartition("(")[2].rstrip(")") if text.endswith(")") else None
        what = _reference_kind(sig, uri) if uri is not None else "a signed part was modified"
        raise _Broken(f"{what} (reference digest mismatch)") from None
    except InvalidSignature as exc:
        detail = str(exc)
        detail = "" if detail.startswith("Signature verification failed") else f": {detail}"
        raise _Broken("the signature value does not verify with the certificate's key "
                      f"(SignedInfo or SignatureValue altered, or signed with another key){detail}"
                      ) from None
    except InvalidInput as exc:
        if "xades:SignedProperties" in str(exc):
            raise _Broken("SignedInfo has no reference to the XAdES SignedProperties (the "
                          "signing time and certificate are not signed)") from None
        raise _Broken(f"not a valid XAdES signature: {exc}") from None
    except UnsupportedAlgorithm as exc:
        raise _Unverifiable(f"unsupported algorithm: {exc}") from None
    except (ValueError, TypeError, etree.LxmlError) as exc:
        raise _Broken(f"damaged signature data ({type(exc).__name__}: {exc})") from None
    return _intact(sig, cert, hashes, trust, _verified_signing_time(results))


def _intact(sig, cert, hashes, trust, signing_time) -> tuple[SignatureVerdict, tuple[str, ...]]:
    from signxml.algorithms import SignatureMethod, digest_algorithm_implementations

    from wpec_invoicing.cms import SignatureVerdict
    from wpec_invoicing.cms.judgement import judge_certificate

    method = SignatureMethod(sig.find(f"{_DS}SignedInfo/{_DS}SignatureMethod").get("Algorithm"))
    warnings = (SHA1_WEAK,) if any("SHA1" in h for h in hashes) else ()
    verdict = SignatureVerdict(
        present=True, intact=True, signer=cert.subject.rfc4514_string(),
        signing_time=signing_time,
        digest_algorithm=digest_algorithm_implementations[method]().name,
    )
    # trust at the signing time and now, revocation, qualified (issue 16; cms/judgement.py)
    return judge_certificate(verdict, cert, _certificates(sig)[1:], trust), warnings


def verify_signature(
    root: etree._Element, sig: etree._Element, *, trust: TrustStore | None = None
) -> tuple[SignatureVerdict, tuple[str, ...]]:
    """(verdict, warnings) for `sig`, the first `ds:Signature` child of `root` (module doc).

    Never raises: an unexpected exception is an `intact=None` verdict whose reason starts
    with the CMS layer's INTERNAL_ERROR (a bug to report, not a judgement of the file).
    """
    shaped = inspect_signature(sig)
    if shaped.intact is False:
        return shaped, ()
    try:
        _check_version(sig)
        _check_references(sig)
        hashes = _check_algorithms(root, sig)
        return _judge(root, sig, _certificates(sig)[0], hashes, trust)
    except _Broken as exc:
        return replace(shaped, intact=False, reason=f"XAdES signature not valid: {exc}"), ()
    except _Unverifiable as exc:
        return replace(shaped, reason=f"XAdES signature not verifiable here: {exc}"), ()
    except Exception as exc:  # last line of defence: a verdict, never a crash
        from wpec_invoicing.cms.verify import INTERNAL_ERROR

        return replace(shaped, reason=f"{INTERNAL_ERROR}XAdES signature cannot be checked: "
                                      f"{type(exc).__name__}: {str(exc)[:200]}"), ()
