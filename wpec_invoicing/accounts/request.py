"""The signed reactivation request: a CAdES `.p7m` the holder signs with a qualified
certificate, checked with the cms engine before a deactivated box may come back.

Accepted only when all hold: the bytes are a CMS SignedData with content; the signature is
intact (not tampered); the signer is trusted (the configured trust store); the signer's codice
fiscale (the certificate subject's serialNumber, "TINIT-<CF>" in Italian qualified
certificates, ETSI EN 319 412-1) equals the holder's; and the signed text names the mailbox
address, so a request signed for one box cannot reactivate another.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from asn1crypto import cms as asn1_cms

from wpec_invoicing.cms.verify import CmsError, open_signed_data

_CF_PREFIXES = ("TINIT-", "IT:", "TIN:IT-")


@dataclass(frozen=True)
class RequestVerdict:
    ok: bool
    reason: str
    signer_fiscal_code: str | None = None


def signer_fiscal_code(data: bytes) -> str | None:
    """The codice fiscale in the first signer's certificate subject serialNumber, or None."""
    try:
        info = asn1_cms.ContentInfo.load(data)
        signed = info["content"]
        sid = signed["signer_infos"][0]["sid"]
        if sid.name != "issuer_and_serial_number":
            return None
        wanted = (sid.chosen["issuer"].dump(), sid.chosen["serial_number"].native)
        for choice in signed["certificates"] or []:
            if choice.name != "certificate":
                continue
            cert = choice.chosen
            tbs = cert["tbs_certificate"]
            if (tbs["issuer"].dump(), tbs["serial_number"].native) != wanted:
                continue
            serial = tbs["subject"].native.get("serial_number")
            if not serial:
                return None
            value = str(serial).strip().upper()
            for prefix in _CF_PREFIXES:
                if value.startswith(prefix):
                    value = value[len(prefix):]
            return value
    except Exception:  # a damaged structure: no signer to name (the verdict says why)
        return None
    return None


def check_request(data: bytes, *, holder_fiscal_code: str | None, address: str,
                  trust) -> RequestVerdict:
    """The verdict on a reactivation request for the box `address` held by the holder."""
    if not holder_fiscal_code:
        return RequestVerdict(False, "the holder's codice fiscale is not configured "
                                     "(lifecycle.holders.NAME.fiscal_code)")
    try:
        content, verdict = open_signed_data(data, trust=trust)
    except CmsError as exc:
        return RequestVerdict(False, f"not a signed request (CAdES .p7m): {exc}")
    except Exception as exc:  # garbage in: a verdict, never a crash
        return RequestVerdict(False, f"not a signed request (CAdES .p7m): "
                                     f"{type(exc).__name__}")
    cf = signer_fiscal_code(data)
    if verdict.intact is not True:
        return RequestVerdict(False, f"the signature is not intact: "
                                     f"{verdict.reason or 'tampered'}", cf)
    if trust is None:
        return RequestVerdict(False, "no trust store configured: the signer cannot be "
                                     "trusted (set trust_store)", cf)
    if verdict.trusted is not True:
        return RequestVerdict(False, f"the signer is not trusted: "
                                     f"{verdict.reason or 'unknown issuer'}", cf)
    if cf is None:
        return RequestVerdict(False, "the signer's certificate carries no codice fiscale "
                                     "(subject serialNumber)")
    if cf != holder_fiscal_code.upper():
        return RequestVerdict(False, f"signed by {cf}, not by the holder "
                                     f"{holder_fiscal_code.upper()}", cf)
    text = content.decode("utf-8", errors="replace")
    if not re.search(re.escape(address), text, re.IGNORECASE):
        return RequestVerdict(False, f"the signed request does not name the mailbox "
                                     f"{address}", cf)
    return RequestVerdict(True, f"signed by the holder {cf}", cf)
