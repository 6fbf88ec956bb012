"""What wraps the invoice XML: nothing, a CAdES p7m in DER, or that p7m in base64 (even twice).

Suppliers send `.xml.p7m` files as raw DER, as base64 with or without line breaks, as PEM,
and sometimes base64-encoded twice. We sniff the bytes, never the file name: names lie.
Signature verification is the CMS engine's job (`wpec_invoicing.cms`); here we only unwrap.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from wpec_invoicing.cms import SignatureVerdict, TrustStore

CONTAINER_XML = "xml"
CONTAINER_P7M_DER = "p7m-der"
CONTAINER_P7M_BASE64 = "p7m-base64"

_B64_CHARS = re.compile(rb"^[A-Za-z0-9+/=\s]+$")
_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----(.*?)-----END [A-Z0-9 ]+-----", re.DOTALL)
_MAX_BASE64_LAYERS = 3
_MAX_P7M_NESTING = 3


class ContainerError(ValueError):
    """The bytes are neither XML nor a p7m we can open (the message says why).

    `code` is the SdI code a rejection would carry: 00102 for a p7m that cannot be opened,
    00200 for anything else."""

    def __init__(self, message: str, code: str = "00200") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Unwrapped:
    container: str
    xml: bytes
    signature: SignatureVerdict | None = None
    warnings: tuple[str, ...] = field(default=())


def _looks_like_der(data: bytes) -> bool:
    # SEQUENCE, then a long-form (0x81..0x84) or indefinite (0x80) length: a CMS ContentInfo.
    return len(data) > 16 and data[0] == 0x30 and data[1] in (0x80, 0x81, 0x82, 0x83, 0x84)


def _looks_like_xml(data: bytes) -> bool:
    head = data[:4096]
    return b"<" in head and (
        b"<?xml" in head or head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<")
        or b"\x00<" in head or b"<\x00" in head
    )


def _b64decode(data: bytes) -> bytes | None:
    compact = b"".join(data.split())
    if not compact or len(compact) % 4 == 1:
        return None
    compact += b"=" * (-len(compact) % 4)
    try:
        return binascii.a2b_base64(compact)
    except (binascii.Error, ValueError):
        return None


def _open_p7m(der: bytes, trust: TrustStore | None) -> tuple[bytes, SignatureVerdict, list[str]]:
    from wpec_invoicing.cms import CmsError, open_signed_data

    warnings: list[str] = []
    verdict = None
    content = der
    for _ in range(_MAX_P7M_NESTING):
        try:
            content, inner = open_signed_data(content, trust=trust)
        except CmsError as exc:
            if verdict is None:
                raise ContainerError(f"not a CMS SignedData (p7m): {exc}", "00102") from exc
            break
        if verdict is None:
            verdict = inner
        else:
            warnings.append("the p7m content is itself a p7m (signed twice); opened both")
            if inner.intact is False and verdict.intact is not False:
                verdict = inner
        if not _looks_like_der(content):
            break
    if not content:
        raise ContainerError("the p7m carries no content (a detached signature?)", "00102")
    return content, verdict, warnings


# A zip (local file header, or the end-of-central-directory record of an empty one) is a
# legitimate SdI container, but it holds several files: opening it is the importer's job.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
ZIP_REFUSED = (
    "zip archives are not supported by invoice validate; use `wpec import` (which opens zips)"
)

_NON_BLANK = re.compile(rb"[^ \t\r\n]")


def _first_non_blank(data: bytes) -> int:
    m = _NON_BLANK.search(data)
    return m.start() if m else -1


def unwrap(data: bytes, *, trust: TrustStore | None = None) -> Unwrapped:
    """Find the invoice XML inside `data`. Raises ContainerError when there is none."""
    start = _first_non_blank(data)
    if start < 0:
        raise ContainerError("the file is empty")
    head = data[start : start + 8]
    if head.startswith(_ZIP_MAGIC):
        raise ContainerError(ZIP_REFUSED)
    if head.startswith((b"<", b"\xef\xbb\xbf")) and b"\x00" not in head:
        return Unwrapped(CONTAINER_XML, data)  # the common case, without copying anything
    stripped = data[start:] if start else data
    if _looks_like_der(stripped):
        # No XML file starts with these bytes, so a failure here is final.
        xml, verdict, warns = _open_p7m(stripped, trust)
        return Unwrapped(CONTAINER_P7M_DER, xml, verdict, tuple(warns))
    if _looks_like_xml(data):
        return Unwrapped(CONTAINER_XML, data)

    # base64 (possibly PEM-armoured, possibly twice)
    layer = stripped
    pem = _PEM.search(layer[:200000])
    if pem:
        layer = pem.group(1)
    warnings: list[str] = []
    for depth in range(1, _MAX_BASE64_LAYERS + 1):
        if not _B64_CHARS.match(layer[:1_000_000]):
            break
        decoded = _b64decode(layer)
        if decoded is None:
            break
        if depth > 1:
            warnings.append(f"the p7m was base64-encoded {depth} times")
        inner = decoded.lstrip(b" \t\r\n")
        if _looks_like_der(inner):
            xml, verdict, warns = _open_p7m(inner, trust)
            return Unwrapped(CONTAINER_P7M_BASE64, xml, verdict, tuple(warnings + warns))
        if _looks_like_xml(decoded):
            warnings.append("the XML was base64-encoded")
            return Unwrapped(CONTAINER_XML, decoded, None, tuple(warnings))
        layer = inner
    raise ContainerError(
        "not an invoice file: neither XML nor a signed p7m (DER or base64)"
    )
