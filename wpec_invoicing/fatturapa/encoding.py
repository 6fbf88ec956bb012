"""Byte-level repairs of messy real-world XML, each one reported.

Real supplier files carry junk before the prolog, a declared encoding that is not the one
the bytes use (windows-1252 bytes declared as UTF-8), a UTF-16 byte order mark in front of
UTF-8 bytes, a namespace declaration with a stray quote or a mangled FatturaPA namespace URI.
SdI refuses all of these; an importer still has to read what is there. `repair()` returns
fixed bytes plus one human message per fix; the reader decides whether a fix is a warning
(lenient) or makes the file unreadable (strict).

A namespace URI can carry its stray character however the vendor's tool wrote it: a literal
quote (`"...v1.2""`, not well-formed), or a reference (`"...v1.2&quot;"`, `&#34;`, `&#x22;`),
which is well-formed XML declaring a namespace nobody knows. `fix_namespaces()` recognises
both: a declaration whose value, references decoded, is a known namespace plus characters
that cannot belong to a URI is restored to the known namespace.
"""

from __future__ import annotations

import codecs
import re

from wpec_invoicing.fatturapa.model import NAMESPACE_ORDINARIA, NAMESPACE_SEMPLIFICATA

XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"
# Every namespace an invoice legitimately declares: FatturaPA's two, and the enveloped
# XAdES signature's (xmldsig, and XAdES 1.3.2 / 1.4.1 for its qualifying properties).
KNOWN_NAMESPACES = (
    NAMESPACE_ORDINARIA,
    NAMESPACE_SEMPLIFICATA,
    XMLDSIG_NAMESPACE,
    "http://uri.etsi.org/01903/v1.3.2#",
    "http://uri.etsi.org/01903/v1.4.1#",
)

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
# a namespace declaration: group 1 up to the value, group 2 (double-quoted) or 3 (single)
_XMLNS_VALUE = re.compile(rb"""(\sxmlns(?::[\w.-]+)?\s*=\s*)(?:"([^"<]*)"|'([^'<]*)')""")
_REFERENCE = re.compile(r"&(?:#([0-9]{1,7})|#x([0-9A-Fa-f]{1,6})|(quot|apos|amp|lt|gt));")
_PREDEFINED = {"quot": '"', "apos": "'", "amp": "&", "lt": "<", "gt": ">"}


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
    # Unless the bytes after it are plainly not UTF-16/32 (XML's markup is ASCII, which
    # UTF-16/32 write with NUL bytes: none at all at the start means an 8-bit document
    # behind a mark some tool put there): then the mark goes.
    if bom_enc and bom_enc != "utf-8" and len(body) >= 16 and b"\x00" not in body[:16]:
        fixes.append(f"a {bom_enc[:6].upper()} byte order mark in front of 8-bit bytes was dropped")
        bom_enc = None
    elif bom_enc and bom_enc != "utf-8":
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

    # Namespace declarations: stray quotes after the value, stray characters inside it.
    fixed = _STRAY_QUOTE.sub(rb"\1", body)
    if fixed != body:
        fixes.append("a stray quote after a namespace declaration was removed")
        body = fixed
    body, ns_fixes = fix_namespaces(body)
    fixes.extend(ns_fixes)
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


def _decode_references(value: str) -> str:
    """An attribute value as the parser reads it: character and predefined entity references
    replaced (an unknown or out-of-range one is left as written)."""

    def one(m: re.Match) -> str:
        if m.group(3):
            return _PREDEFINED[m.group(3)]
        code = int(m.group(1)) if m.group(1) else int(m.group(2), 16)
        return chr(code) if 0 < code <= 0x10FFFF else m.group(0)

    return _REFERENCE.sub(one, value) if "&" in value else value


def known_namespace(value: str) -> str | None:
    """The known namespace `value` stands for, when it is one plus stray characters (blanks,
    quotes, punctuation; references already decoded) or a mangled FatturaPA URI (one of the
    Agenzia delle Entrate naming `fatture/v1.2` or `fatture/v1.0`); None otherwise,
    and None when `value` is exactly a known namespace (nothing to repair)."""
    if value in KNOWN_NAMESPACES:
        return None
    for good in KNOWN_NAMESPACES:
        start = value.find(good)
        if start < 0:
            continue
        stray = value[:start] + value[start + len(good):]
        if not any(ch.isalnum() for ch in stray):
            return good
    if "agenziaentrate" not in value and "ivaservizi" not in value:
        return None  # a vendor's own namespace, whatever its path says
    for good, marker in ((NAMESPACE_ORDINARIA, "fatture/v1.2"),
                         (NAMESPACE_SEMPLIFICATA, "fatture/v1.0")):
        if marker in value:
            return good
    return None


def _fix_namespace_uri(m: re.Match) -> bytes:
    raw = m.group(2) if m.group(2) is not None else m.group(3)
    good = known_namespace(_decode_references(raw.decode("latin-1")))
    if good is None:
        return m.group(0)
    return m.group(1) + b'"' + good.encode() + b'"'


def fix_namespaces(body: bytes) -> tuple[bytes, list[str]]:
    """Restore every namespace declaration whose value is a known namespace plus stray
    characters (literal or written as references: see the module docstring); returns the
    bytes and one message per repaired URI. ASCII-compatible bytes only (the reader
    transcodes UTF-16/32 first); anything else comes back unchanged."""
    if b"xmlns" not in body:
        return body, []
    fixes: list[str] = []

    def fix(m: re.Match) -> bytes:
        out = _fix_namespace_uri(m)
        if out != m.group(0):
            raw = (m.group(2) if m.group(2) is not None else m.group(3)).decode("latin-1")
            fixes.append(f"a malformed namespace URI {raw!r} was corrected to "
                         f"{_namespace_of(out)!r}")
        return out

    fixed = _XMLNS_VALUE.sub(fix, body)
    return fixed, fixes


def _namespace_of(declaration: bytes) -> str:
    return declaration.rsplit(b'"', 2)[1].decode("ascii")


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
