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
import hashlib
import io
import re
from collections import deque
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.utils import getaddresses, parseaddr

__all__ = [
    "Headers",
    "Part",
    "canonical_crlf",
    "canonical_crlf_range",
    "decode_words",
    "is_crlf_clean",
    "multipart_ranges",
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


class Part:
    """One MIME entity: a byte range of a buffer shared by the whole message tree.

    Why ranges and not slices: a slice of `bytes` is a copy, and a PEC envelope nests the
    same 50 MB several levels deep (envelope → signed body → postacert.eml → attachment).
    A part is `buf[start:end]` with its body at `buf[body_start:end]`; nothing is copied
    until someone asks for bytes (`raw`, `body`, `decoded()`), and `digest()` hashes a big
    base64 attachment in chunks without ever holding it decoded.
    """

    __slots__ = ("_ctype", "_disposition", "body_start", "buf", "end", "headers", "start")

    def __init__(
        self, buf: bytes, start: int, end: int, body_start: int, headers: Headers
    ) -> None:
        self.buf = buf
        self.start = start
        self.end = end
        self.body_start = body_start  # absolute offset in `buf`
        self.headers = headers
        self._ctype: tuple[str, dict[str, str]] | None = None
        self._disposition: tuple[str, dict[str, str]] | None = None

    def __repr__(self) -> str:
        return f"Part({self.content_type!r}, {self.end - self.start} bytes)"

    def _bytes(self, start: int) -> bytes:
        if start == 0 and self.end == len(self.buf) and type(self.buf) is bytes:
            return self.buf
        return self.buf[start : self.end]

    @property
    def raw(self) -> bytes:
        """The entity's bytes, headers and body, exactly as received (a copy)."""
        return self._bytes(self.start)

    @property
    def body(self) -> bytes:
        """The body as received, transfer encoding not undone (a copy)."""
        return self._bytes(self.body_start)

    @property
    def raw_view(self) -> memoryview:
        """`raw` without the copy."""
        return memoryview(self.buf)[self.start : self.end]

    @property
    def body_view(self) -> memoryview:
        """`body` without the copy."""
        return memoryview(self.buf)[self.body_start : self.end]

    @property
    def body_size(self) -> int:
        return self.end - self.body_start

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

    @property
    def transfer_encoding(self) -> str:
        return (self.headers.get("content-transfer-encoding") or "").strip().lower()

    def decoded(self) -> bytes:
        """The body with its Content-Transfer-Encoding undone (tolerant of junk)."""
        encoding = self.transfer_encoding
        if encoding == "base64":
            return _a2b_base64(self.body_view)
        if encoding == "quoted-printable":
            return binascii.a2b_qp(self.body_view)
        return self.body

    @property
    def truncated(self) -> bool:
        """True when a base64 body was cut short: its base64 characters do not make whole
        groups of four (a sender or a server dropped the end). `decoded()` still returns what
        is there, so the caller must say that it is incomplete. Counted without copying the
        body (line breaks and blanks are the only separators base64 bodies carry)."""
        if self.transfer_encoding != "base64":
            return False
        buf, start, end = self.buf, self.body_start, self.end
        size = end - start
        for separator in (b"\n", b"\r", b" ", b"\t"):
            size -= buf.count(separator, start, end)
        return size % 4 != 0

    def digest(self, chunk: int = 1 << 20) -> tuple[int, str]:
        """(size, sha256 hex) of `decoded()`, without holding a big body decoded.

        Base64 is decoded `chunk` bytes at a time, cut at line ends; the result is the same
        as decoding the whole body because every chunk but the last must decode on its own
        to whole 3-byte groups with no padding in it. Anything else (junk, padding in the
        middle) falls back to `decoded()`, whose tolerant rules then apply unchanged.
        """
        encoding = self.transfer_encoding
        if encoding == "base64":
            found = _b64_digest(self.buf, self.body_start, self.end, chunk)
            if found is not None:
                return found
        elif encoding != "quoted-printable":
            view = self.body_view
            return len(view), hashlib.sha256(view).hexdigest()
        data = self.decoded()
        return len(data), hashlib.sha256(data).hexdigest()

    def children(self) -> list[Part]:
        """The sub-parts of a multipart entity ([] when it has none or no boundary)."""
        boundary = self.params.get("boundary")
        if not self.is_multipart or not boundary:
            return []
        return [
            parse_entity(self.buf, start, end)
            for start, end in multipart_ranges(self.buf, boundary, self.body_start, self.end)
        ]


def _a2b_base64(data: memoryview) -> bytes:
    try:
        return binascii.a2b_base64(data)
    except (binascii.Error, ValueError):
        cleaned = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
        cleaned = cleaned[: len(cleaned) - len(cleaned) % 4]
        try:
            return binascii.a2b_base64(cleaned)
        except (binascii.Error, ValueError):
            return b""


def _b64_digest(buf: bytes, start: int, end: int, chunk: int) -> tuple[int, str] | None:
    """Chunked base64 decode + sha256; None when the whole-body decoder must decide."""
    view = memoryview(buf)
    digest = hashlib.sha256()
    size = 0
    pos = start
    while pos < end:
        stop = pos + chunk
        last = stop >= end
        if not last:
            eol = buf.find(b"\n", stop, end)
            last = eol < 0
            stop = end if last else eol + 1
        else:
            stop = end
        if not last and buf.find(b"=", pos, stop) >= 0:
            return None  # padding before the end: let the whole-body rules decide
        try:
            piece = binascii.a2b_base64(view[pos:stop])
        except (binascii.Error, ValueError):
            return None
        digest.update(piece)
        size += len(piece)
        pos = stop
    return size, digest.hexdigest()


def parse_entity(raw: bytes, start: int = 0, end: int | None = None) -> Part:
    """Split an entity (`raw[start:end]`, no copy) into headers and body. A message without
    a blank line is all headers."""
    if end is None:
        end = len(raw)
    if raw.startswith(b"\r\n", start, end):  # no headers at all
        return Part(raw, start, end, start + 2, Headers({}))
    if raw.startswith(b"\n", start, end):
        return Part(raw, start, end, start + 1, Headers({}))
    match = _HEADER_END.search(raw, start, end)
    if match is None:
        return Part(raw, start, end, end, Headers.parse(raw[start:end]))
    return Part(raw, start, end, match.end(), Headers.parse(raw[start : match.start()]))


MAX_CHILDREN = 5000  # more parts than any real message has: the rest is left unread


def leaves(top: Part, *, max_depth: int,
           max_parts: int | None = None) -> Iterator[tuple[Part, int]]:
    """The leaf parts of a MIME tree with their depth, breadth first (the order a reader
    expects: the message's own text before what is nested in it). Multiparts deeper than
    `max_depth` are not opened, and at most `max_parts` entities are visited (multiparts
    included): a hostile message of a million parts costs a bounded walk."""
    queue: deque[tuple[Part, int]] = deque([(top, 0)])
    seen = 0
    while queue and (max_parts is None or seen < max_parts):
        part, depth = queue.popleft()
        seen += 1
        if part.is_multipart:
            if depth < max_depth:
                queue.extend((child, depth + 1) for child in part.children())
            continue
        yield part, depth


def split_multipart(body: bytes, boundary: str) -> list[bytes]:
    """Cut a multipart body into the raw bytes of its parts, exactly as they are on the wire.

    Per RFC 2046 the line break before a delimiter belongs to the delimiter, so a part's bytes
    end before it: this is what S/MIME signs. A missing closing delimiter ends at the end.
    """
    return [body[start:end] for start, end in multipart_ranges(body, boundary)]


def multipart_ranges(
    buf: bytes, boundary: str, start: int = 0, end: int | None = None
) -> list[tuple[int, int]]:
    """`split_multipart` of `buf[start:end]` as (start, end) offsets into `buf`: no copies."""
    if end is None:
        end = len(buf)
    delimiter = b"--" + boundary.encode("utf-8", "replace")
    positions: list[tuple[int, int, bool]] = []  # (line start, content start after line, close)
    pos = start
    while True:
        found = buf.find(delimiter, pos, end)
        if found < 0:
            break
        pos = found + len(delimiter)
        if found != start and buf[found - 1] != 0x0A:  # not at the start of a line
            continue
        close = buf.startswith(b"--", pos, end)
        eol = buf.find(b"\n", pos, end)
        after = end if eol < 0 else eol + 1
        # the delimiter line may carry only blanks (transport padding) after the boundary
        if _PADDING.fullmatch(buf, pos + (2 if close else 0), after) is None:
            continue
        line_start = found
        if found - start >= 2 and buf.startswith(b"\r\n", found - 2):
            line_start = found - 2
        elif found - start >= 1 and buf[found - 1] == 0x0A:
            line_start = found - 1
        positions.append((line_start, after, close))
        if len(positions) > MAX_CHILDREN:
            break
        if close:
            break
        pos = after
    ranges: list[tuple[int, int]] = []
    for index, (_start, content_start, close) in enumerate(positions):
        if close:
            break
        stop = positions[index + 1][0] if index + 1 < len(positions) else end
        ranges.append((content_start, stop))
    return ranges


_PADDING = re.compile(rb"[ \t\n\r\x0b\x0c]*")  # what bytes.strip() removes


def is_crlf_clean(buf: bytes, start: int = 0, end: int | None = None) -> bool:
    """Every line break of `buf[start:end]` is already CRLF (counted in place, no copy)."""
    if end is None:
        end = len(buf)
    return buf.count(b"\n", start, end) == buf.count(b"\r\n", start, end)


def canonical_crlf_range(buf: bytes, start: int, end: int, chunk: int = 1 << 20) -> bytes:
    """`canonical_crlf(buf[start:end])`, built a chunk at a time (cut after a line feed, so a
    CRLF is never split) to hold about one copy, not three."""
    out = io.BytesIO()
    pos = start
    while pos < end:
        stop = pos + chunk
        if stop >= end:
            stop = end
        else:
            eol = buf.find(b"\n", stop, end)
            stop = end if eol < 0 else eol + 1
        out.write(buf[pos:stop].replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
        pos = stop
    return out.getvalue()


def canonical_crlf(data: bytes) -> bytes:
    """Every line break as CRLF (what S/MIME signs); data already canonical is returned as is."""
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
