"""An enveloped XAdES signature (`ds:Signature` in the invoice XML): looked at, not verified.

We do not verify XAdES (canonicalization, references, the signature value): that needs an
XML-DSig engine we do not ship. We do not pretend either. What we decide:

- a `ds:Signature` that lacks what every XAdES-BES signature has — a reference to the whole
  document (`URI=""`), a non-empty SignatureValue, the signing certificate in
  `KeyInfo/X509Data/X509Certificate` (a parsable X.509 certificate) and the XAdES
  `QualifyingProperties` — is not a signature SdI could accept: `intact=False`, with the
  reason, so check 00102 reports it (and an FPA12 is not "signed" by an arbitrary element);
- one that has all of it is `present`, `intact=None` (not verified), with the signer and
  the signing time read from it, and the reader adds a warning saying it was not verified.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime

from lxml import etree

NS_DS = "http://www.w3.org/2000/09/xmldsig#"
XADES_PREFIX = "http://uri.etsi.org/01903/"
NOT_VERIFIED = (
    "enveloped XAdES signature found but not verified: its structure and certificate were "
    "read, the signature value was not checked (wpec does not verify XAdES; SdI will)"
)

_DS = f"{{{NS_DS}}}"


def _local(el: etree._Element) -> str:
    return el.tag.rpartition("}")[2] if isinstance(el.tag, str) else ""


def _ns(el: etree._Element) -> str:
    return el.tag[1:].partition("}")[0] if isinstance(el.tag, str) and el.tag[0] == "{" else ""


def inspect_signature(sig: etree._Element):
    """The `SignatureVerdict` of an enveloped `ds:Signature` element (see the module doc)."""
    from wpec_invoicing.cms import SignatureVerdict

    problems: list[str] = []
    refs = sig.findall(f"{_DS}SignedInfo/{_DS}Reference")
    if not any(r.get("URI") == "" for r in refs):
        problems.append('no Reference to the whole document (URI="")')
    value = "".join((sig.findtext(f"{_DS}SignatureValue") or "").split())
    if len(value) < 16:
        problems.append("empty or too short SignatureValue")

    signer = None
    cert_text = sig.findtext(f"{_DS}KeyInfo/{_DS}X509Data/{_DS}X509Certificate")
    if not cert_text:
        problems.append("no signing certificate (KeyInfo/X509Data/X509Certificate)")
    else:
        try:
            from cryptography import x509

            der = base64.b64decode("".join(cert_text.split()), validate=True)
            signer = x509.load_der_x509_certificate(der).subject.rfc4514_string()
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
        for el in qualifying[0].iter():
            if _local(el) == "SigningTime" and el.text:
                try:
                    when = datetime.fromisoformat(el.text.strip().replace("Z", "+00:00"))
                except ValueError:
                    continue
                if when.tzinfo is not None:
                    signing_time = when
                break

    if problems:
        return SignatureVerdict(
            present=True, intact=False, signer=signer, signing_time=signing_time,
            reason="the ds:Signature is not an XAdES-BES signature: " + "; ".join(problems),
        )
    return SignatureVerdict(
        present=True, intact=None, signer=signer, signing_time=signing_time,
        reason="enveloped XAdES signature: present, not verified here",
    )
