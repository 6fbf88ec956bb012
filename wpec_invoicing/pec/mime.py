"""A small, fast MIME walker over raw bytes.

Why not `email.message_from_bytes`: a PEC signature covers the first body part *exactly as
received*, so we must cut raw byte ranges between boundary delimiters, never re-serialize; and
the standard parser builds a full object tree (and decodes every header) for every message,
which is most of the cost when a mailbox holds thousands of receipts. Here a part is a pair of
byte ranges (headers, body) over the original buffer, and headers are decoded only on demand.

Everything here is tolerant: bare LF line endings, missing closing delimiters, headers without
a body. Nothing here raises on bad input: a structure that is not there is simply absent.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import getaddresses, parseaddr

__all__ = [
    "Headers",
    "Part",
    "canonical_crlf",
    "decode_words",
    "parse_entity",
    "parse_params",
    "split_multipart",
]


_HEADER_END = re.compile(rb"\r?\n\r?\n")
_HEADER_LINE = re.compile(rb"^([!-9;-~]+)[ \t]*:(.*)$")


def decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words ("=?utf-8?b?...?=") where there are any."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except Exception:  # a broken encoded word: keep the raw text rather than lose it
        return value


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


class Headers:
    """Header fields of one entity, looked up case-insensitively (`X-Tiporicevuta` exists).

    Values are unfolded and stripped but not RFC 2047-decoded; use `text()` for that.
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self._fields = fields

    @classmethod
    def parse(cls, block: bytes) -> Headers:
        fields: dict[str, list[str]] = {}
        name: str | None = None
        value_parts: list[bytes] = []

        def flush() -> None:
            if name is not None:  # unfolding = removing the line breaks, nothing else
                value = _text(b"".join(value_parts)).strip()
                fields.setdefault(name, []).append(value)

        for line in block.splitlines():
            if not line:
                continue
            if line[:1] in (b" ", b"\t"):
                if name is not None:
                    value_parts.append(line)
                continue
            match = _HEADER_LINE.match(line)
            if match is None:  # garbage line: skip it, the rest may still be fine
                continue
            flush()
            name = match.group(1).decode("ascii").lower()
            value_parts = [match.group(2)]
        flush()
        return cls(fields)

    def get(self, name: str, default: str | None = None) -> str | None:
        values = self._fields.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._fields.get(name.lower(), ()))

    def text(self, name: str) -> str | None:
        """The first value of a header, RFC 2047-decoded."""
        value = self.get(name)
        return None if value is None else decode_words(value)

    def addresses(self, *names: str) -> list[str]:
        """E-mail addresses listed in the given headers (lower-cased, in order, no duplicates)."""
        values = [v for n in names for v in self.get_all(n)]
        seen: list[str] = []
        for _display, address in getaddresses(values):
            address = address.strip().lower()
            if address and "@" in address and address not in seen:
                seen.append(address)
        return seen

    def address(self, name: str) -> tuple[str, str] | None:
        """(display name decoded, address lower-cased) of a single-address header."""
        value = self.get(name)
        if value is None:
            return None
        display, address = parseaddr(value)
        return decode_words(display), address.strip().lower()

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._fields

    def names(self) -> list[str]:
        return list(self._fields)


_PARAM = re.compile(r';\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"?|[^;]*)')


def parse_params(value: str) -> tuple[str, dict[str, str]]:
    """Split a Content-Type / Content-Disposition value into (lower-cased main value, params).

    Handles quoted strings, RFC 2231 `name*=utf-8''...` and continuations `name*0=`.
    """
    main, sep, _rest = value.partition(";")
    params: dict[str, str] = {}
    if not sep:
        return main.strip().lower(), params
    continued: dict[str, dict[int, tuple[str, bool]]] = {}
    for match in _PARAM.finditer(value, len(main)):
        key = match.group(1).lower()
        val = match.group(2).strip()
        if val.startswith('"'):
            val = val[1:-1] if len(val) > 1 and val.endswith('"') else val[1:]
            if "\\" in val:
                val = re.sub(r"\\(.)", r"\1", val)
        if "*" in key:
            star = re.fullmatch(r"([^*]+)\*(\d+)?(\*)?", key)
            if star:
                encoded = bool(star.group(3)) or star.group(2) is None
                index = int(star.group(2) or 0)
                continued.setdefault(star.group(1), {})[index] = (val, encoded)
                continue
        params.setdefault(key, val)
    for base, pieces in continued.items():
        params[base] = _join_2231([pieces[k] for k in sorted(pieces)])
    return main.strip().lower(), params


def _join_2231(pieces: list[tuple[str, bool]]) -> str:
    from urllib.parse import unquote_to_bytes

    charset = "utf-8"
    out = bytearray()
    for index, (val, encoded) in enumerate(pieces):
        if encoded:
            if index == 0 and val.count("'") >= 2:
                charset, _lang, val = val.split("'", 2)
            out += unquote_to_bytes(val)
        else:
            out += val.encode("utf-8", "replace")
    try:
        return out.decode(charset or "utf-8")
    except (LookupError, UnicodeDecodeError):
        return out.decode("latin-1")


@dataclass(slots=True)
class Part:
    """One MIME entity: its raw bytes (headers + body) and where the body starts."""

    raw: bytes
    body_start: int
    headers: Headers
    _ctype: tuple[str, dict[str, str]] | None = field(default=None, repr=False)
    _body: bytes | None = field(default=None, repr=False)
    _disposition: tuple[str, dict[str, str]] | None = field(default=None, repr=False)

    @property
    def body(self) -> bytes:
        if self._body is None:
            self._body = self.raw[self.body_start :] if self.body_start else self.raw
        return self._body

    def _disp(self) -> tuple[str, dict[str, str]] | None:
        if self._disposition is None:
            value = self.headers.get("content-disposition")
            if value is None:
                return None
            self._disposition = parse_params(value)
        return self._disposition

    @property
    def content_type(self) -> str:
        return self._content_type()[0]

    @property
    def params(self) -> dict[str, str]:
        return self._content_type()[1]

    def _content_type(self) -> tuple[str, dict[str, str]]:
        if self._ctype is None:
            value = self.headers.get("content-type")
            if value is None:
                self._ctype = ("text/plain", {})
            else:
                main, params = parse_params(value)
                if "/" not in main:
                    main = "application/octet-stream"
                self._ctype = (main, params)
        return self._ctype

    @property
    def is_multipart(self) -> bool:
        return self.content_type.startswith("multipart/")

    def filename(self) -> str | None:
        """The file name from Content-Disposition or, failing that, Content-Type `name`."""
        disposition = self._disp()
        if disposition is not None and disposition[1].get("filename"):
            return decode_words(disposition[1]["filename"])
        name = self.params.get("name")
        return decode_words(name) if name else None

    @property
    def disposition(self) -> str | None:
        disposition = self._disp()
        return disposition[0] if disposition is not None else None

    def decoded(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone (tolerant of junk)."""
        encoding = (self.headers.get("content-transfer-encoding") or "").strip().lower()
        body = self.body
        if encoding == "base64":
            try:
                return binascii.a2b_base64(body)
            except (binascii.Error, ValueError):
                cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", body)
                cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
                try:
                    return binascii.a2b_base64(cleaned)
                except (binascii.Error, ValueError):
                    return b""
        if encoding == "quoted-printable":
            return binascii.a2b_qp(body)
        return body

    def children(self) -> list[Part]:
        """The sub-parts of a multipart entity ([] when it has none or no boundary)."""
        boundary = self.params.get("boundary")
        if not self.is_multipart or not boundary:
            return []
        return [parse_entity(raw) for raw in split_multipart(self.body, boundary)]


def parse_entity(raw: bytes) -> Part:
    """Split an entity into headers and body. A message without a blank line is all headers."""
    if raw[:2] == b"\r\n" or raw[:1] == b"\n":  # no headers at all
        start = 2 if raw[:2] == b"\r\n" else 1
        return Part(raw, start, Headers({}))
    match = _HEADER_END.search(raw)
    if match is None:
        return Part(raw, len(raw), Headers.parse(raw))
    return Part(raw, match.end(), Headers.parse(raw[: match.start()]))


MAX_CHILDREN = 5000  # more parts than any real message has: the rest is left unread


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """Cut a multipart body into the raw bytes of its parts, exactly as they are on the wire.

    Per RFC 2046 the line break before a delimiter belongs to the delimiter, so a part's bytes
    end before it: this is what S/MIME signs. A missing closing delimiter ends at the end.
    """
    delimiter = b"--" + boundary.encode("utf-8", "replace")
    positions: list[tuple[int, int, bool]] = []  # (line start, content start after line, close)
    pos = 0
    n = len(body)
    while True:
        found = body.find(delimiter, pos)
        if found < 0:
            break
        pos = found + len(delimiter)
        if found != 0 and body[found - 1 : found] != b"\n":
            continue
        close = body[pos : pos + 2] == b"--"
        eol = body.find(b"\n", pos)
        after = n if eol < 0 else eol + 1
        # the delimiter line may carry only blanks (transport padding) after the boundary
        tail = body[pos + (2 if close else 0) : after].strip()
        if tail:
            continue
        line_start = found
        if found >= 2 and body[found - 2 : found] == b"\r\n":
            line_start = found - 2
        elif found >= 1 and body[found - 1 : found] == b"\n":
            line_start = found - 1
        positions.append((line_start, after, close))
        if len(positions) > MAX_CHILDREN:
            break
        if close:
            break
        pos = after
    parts: list[bytes] = []
    for index, (_start, content_start, close) in enumerate(positions):
        if close:
            break
        end = positions[index + 1][0] if index + 1 < len(positions) else n
        parts.append(body[content_start:end])
    return parts


def canonical_crlf(data: bytes) -> bytes:
    """Every line break as CRLF (what S/MIME signs); data already canonical is returned as is."""
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
