"""Byte-level repairs of messy real-world XML, each one reported.

Real supplier files carry junk before the prolog, a declared encoding that is not the one
the bytes use (windows-1252 bytes declared as UTF-8), a namespace declaration with a stray
quote or a mangled FatturaPA namespace URI. SdI refuses several of these; an importer still
has to read what is there. `repair()` returns fixed bytes plus one human message per fix;
the reader decides whether a fix is a warning (lenient) or an error (strict).
"""

from __future__ import annotations

import codecs
import re

from wpec_invoicing.fatturapa.model import NAMESPACE_ORDINARIA, NAMESPACE_SEMPLIFICATA

BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_DECL = re.compile(rb"""^<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_DECL_ANY = re.compile(rb"^<\?xml[^>]*\?>")
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# xmlns="uri"" or xmlns:p='uri'" : an attribute value followed by stray quote characters
_STRAY_QUOTE = re.compile(rb"""(\sxmlns(?::[\w.-]+)?\s*=\s*(["'])[^"'<>]*\2)["'`]+""")
_XMLNS_VALUE = re.compile(rb"""(\sxmlns(?::[\w.-]+)?\s*=\s*)(["'])([^"'<>]*)\2""")


def strip_bom(data: bytes) -> tuple[bytes, str | None]:
    """Remove a byte order mark; returns (bytes, encoding the BOM implies or None)."""
    for bom, enc in BOMS:
        if data.startswith(bom):
            return data[len(bom) :], enc
    return data, None


_FIRST_TAG = re.compile(rb"<[A-Za-z_:]")


def has_doctype(data: bytes) -> bool:
    """A DOCTYPE or ENTITY declaration: we refuse those outright (XXE, entity bombs).

    FatturaPA has no DTD, so no honest invoice carries one. A DOCTYPE can only stand before
    the root element (anywhere else the parser refuses the file as not well-formed), so only
    the prolog is scanned unless it holds a `<!` (comment, DOCTYPE): then the whole file is.
    UTF-16/32 inputs are looked at after decoding.
    """
    if data[:1] == b"<" and b"\x00" not in data[:4]:  # no BOM, not UTF-16/32: the common case
        body, enc = data, None
    else:
        body, enc = strip_bom(data)
    if enc is None and b"\x00" in body[:4]:
        enc = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
    if enc and enc != "utf-8":
        text = body.decode(enc, errors="replace")
        return re.search(r"<!\s*(DOCTYPE|ENTITY)", text, re.IGNORECASE) is not None
    # No "!" anywhere, so no comment, CDATA or declaration: one memchr scan settles the common
    # file (searching "<!" itself stops at every "<", which costs far more).
    if b"!" not in body:
        return False
    m = _FIRST_TAG.search(body)
    prolog = body[: m.start()] if m else body
    if b"<!" not in prolog:
        return False
    return _DOCTYPE.search(body) is not None


def declared_encoding(data: bytes) -> str | None:
    m = _DECL.match(data)
    return m.group(1).decode("ascii") if m else None


def _codec_name(name: str) -> str | None:
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def repair(data: bytes) -> tuple[bytes, list[str]]:
    """Best-effort fix of the byte-level problems; returns UTF-8 bytes and what was fixed."""
    fixes: list[str] = []
    body, bom_enc = strip_bom(data)

    # A BOM of UTF-16/32: transcode to UTF-8 first (libxml2 copes, our regexes would not).
    if bom_enc and bom_enc != "utf-8":
        try:
            body = body.decode(bom_enc).encode("utf-8")
            body = _set_declared_encoding(body, "UTF-8")
        except UnicodeDecodeError:
            pass

    # Junk before the prolog (or before the first tag when there is no prolog).
    start = body.find(b"<?xml")
    if start < 0:
        start = body.find(b"<")
    if start > 0:
        junk = body[:start]
        if junk.strip(b" \t\r\n"):
            fixes.append(f"{start} byte(s) of junk before the XML declaration were dropped")
        elif start > 0 and body.startswith(b"<?xml", start):
            fixes.append("blank space before the XML declaration was dropped")
        body = body[start:]

    # The declared encoding versus the bytes.
    declared = declared_encoding(body) or "UTF-8"
    codec = _codec_name(declared) or "utf-8"
    try:
        text = body.decode(codec)
        if codec != "utf-8":
            body = _set_declared_encoding(text.encode("utf-8"), "UTF-8")
    except UnicodeDecodeError:
        for candidate, label in (("cp1252", "windows-1252"), ("latin-1", "ISO-8859-1")):
            try:
                text = body.decode(candidate)
            except UnicodeDecodeError:
                continue
            fixes.append(
                f"declared encoding {declared} does not match the bytes; read as {label}"
            )
            body = _set_declared_encoding(text.encode("utf-8"), "UTF-8")
            break

    # Namespace declarations of the root: stray quotes, mangled FatturaPA URIs.
    root_start, root_end = _root_start_tag(body)
    if root_start >= 0:
        tag = body[root_start:root_end]
        fixed = _STRAY_QUOTE.sub(rb"\1", tag)
        if fixed != tag:
            fixes.append("a stray quote after a namespace declaration was removed")
        fixed2 = _XMLNS_VALUE.sub(_fix_namespace_uri, fixed)
        if fixed2 != fixed:
            fixes.append("a malformed FatturaPA namespace URI was corrected")
        if fixed2 != tag:
            body = body[:root_start] + fixed2 + body[root_end:]
    return body, fixes


_NON_ASCII = re.compile(rb"[\x80-\xff]")
_SINGLE_BYTE = {"iso8859-1", "latin-1", "cp1252", "iso8859-15"}


def utf8_declared_single_byte(data: bytes) -> tuple[bytes, str | None]:
    """UTF-8 bytes declared as ISO-8859-1/windows-1252 (they would read as "AttivitÃ ").

    When the declaration names a single-byte encoding but the bytes are valid UTF-8 with
    multi-byte sequences, returns the bytes declared as UTF-8 and what was fixed; otherwise
    the bytes unchanged and None. Used by lenient reading only: as declared, the file is
    well-formed, so strict reading takes it at its word (as SdI does)."""
    body, bom = strip_bom(data)
    if bom is not None:
        return data, None
    declared = declared_encoding(body)
    if declared is None or (_codec_name(declared) or "") not in _SINGLE_BYTE:
        return data, None
    if not _NON_ASCII.search(body):
        return data, None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return data, None
    return (
        _set_declared_encoding(body, "UTF-8"),
        f"declared encoding {declared} but the bytes are UTF-8; read as UTF-8",
    )


def _fix_namespace_uri(m: re.Match) -> bytes:
    uri = m.group(3)
    for good, marker in (
        (NAMESPACE_ORDINARIA, b"fatture/v1.2"),
        (NAMESPACE_SEMPLIFICATA, b"fatture/v1.0"),
    ):
        if marker in uri and uri != good.encode():
            return m.group(1) + b'"' + good.encode() + b'"'
    return m.group(0)


def _root_start_tag(body: bytes) -> tuple[int, int]:
    """Offsets of the root element's start tag (skipping prolog, comments, PIs)."""
    pos = 0
    n = len(body)
    while pos < n:
        lt = body.find(b"<", pos)
        if lt < 0 or lt + 1 >= n:
            return -1, -1
        nxt = body[lt + 1 : lt + 2]
        if nxt == b"?":
            end = body.find(b"?>", lt)
            pos = n if end < 0 else end + 2
        elif body.startswith(b"<!--", lt):
            end = body.find(b"-->", lt)
            pos = n if end < 0 else end + 3
        elif nxt == b"!":
            end = body.find(b">", lt)
            pos = n if end < 0 else end + 1
        else:
            end = body.find(b">", lt)
            return (lt, n if end < 0 else end + 1)
    return -1, -1


def _set_declared_encoding(body: bytes, encoding: str) -> bytes:
    m = _DECL_ANY.match(body)
    if not m:
        return body
    decl = m.group(0)
    if re.search(rb"encoding\s*=", decl):
        new = re.sub(rb"""encoding\s*=\s*["'][^"']*["']""", f'encoding="{encoding}"'.encode(), decl)
    else:
        new = decl[:-2].rstrip() + f' encoding="{encoding}"?>'.encode()
    return new + body[len(decl) :]
