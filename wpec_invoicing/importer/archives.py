"""Reading inputs without trusting them: folders walked, zip archives opened in memory.

Nothing is extracted to disk. Limits (entry size, total unpacked size, compression ratio,
entry count, nesting depth) are checked on the declared sizes *and* on what actually comes out
of the decompressor, since a zip bomb lies about its sizes. Hostile member names (absolute,
`..`, drive letters, NUL) are refused and reported.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from wpec_invoicing.importer.model import Entry, ImportSummary
from wpec_invoicing.inputs import check_regular

MAX_FILE_BYTES = 50 * 1024 * 1024  # one entry (SdI's own limit is 5 MB per invoice)
MAX_TOTAL_BYTES = 500 * 1024 * 1024  # everything unpacked from one top-level archive
MAX_RATIO = 200  # compressed → uncompressed, for entries over 1 MB
MAX_ENTRIES = 20_000
MAX_DEPTH = 4  # zip inside zip inside …

INVOICE_EXT = (".xml", ".p7m")


class _Refused(Exception):
    pass


def _member_problem(name: str) -> str | None:
    """Why an archive member name is hostile (None when it is fine)."""
    if not name:
        return "member with an empty name"
    if "\x00" in name:
        return "member name contains a NUL byte"
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        return "absolute member path"
    if any(part == ".." for part in PurePosixPath(normalized).parts):
        return "member path escapes the archive (..)"
    return None


def _is_dir(info: zipfile.ZipInfo) -> bool:
    """ZipInfo.is_dir() without its IndexError on an empty member name (hostile archives)."""
    return info.filename.endswith("/")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int]) -> bytes:
    """Read one member with a hard cap: declared sizes can lie, so count what comes out."""
    if info.file_size > MAX_FILE_BYTES:
        raise _Refused(f"entry of {info.file_size} bytes exceeds {MAX_FILE_BYTES}")
    if info.compress_size and info.file_size > 1_000_000 and \
            info.file_size / info.compress_size > MAX_RATIO:
        raise _Refused(f"compression ratio {info.file_size // info.compress_size}:1 "
                       "(zip bomb?)")
    out = bytearray()
    with zf.open(info) as handle:
        while chunk := handle.read(1 << 20):
            out += chunk
            if len(out) > min(MAX_FILE_BYTES, info.file_size + 1):
                raise _Refused("entry inflates beyond its declared size (zip bomb?)")
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise _Refused(f"archive unpacks to more than {MAX_TOTAL_BYTES} bytes "
                               "(zip bomb?)")
    return bytes(out)


def _zip_entries(data: bytes, label: str, summary: ImportSummary, depth: int,
                 budget: list[int]) -> Iterator[Entry]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except Exception as exc:  # BadZipFile, struct/zlib errors, bogus sizes…
        summary.add(label, "invalid", f"not a readable zip archive: {exc}")
        return
    if len(infos) > MAX_ENTRIES:
        summary.add(label, "refused", f"{len(infos)} entries (limit {MAX_ENTRIES})")
        return
    if all(_is_dir(info) for info in infos):  # said, not silently nothing
        summary.add(label, "skipped", "an empty archive: no files in it")
        return
    for info in infos:
        if _is_dir(info):
            continue
        member_label = f"{label}!{info.filename}"
        problem = _member_problem(info.filename)
        if problem:
            summary.add(member_label, "refused", problem)
            continue
        if info.flag_bits & 0x1:
            summary.add(member_label, "refused", "encrypted archive member")
            continue
        try:
            content = _read_member(zf, info, budget)
        except _Refused as exc:
            summary.add(member_label, "refused", str(exc))
            if budget[0] < 0:
                return
            continue
        except Exception as exc:  # hostile bytes raise whatever zlib/zipfile/struct raise
            summary.add(member_label, "invalid", f"cannot unpack: {type(exc).__name__}: {exc}")
            continue
        name = PurePosixPath(info.filename.replace("\\", "/")).name
        if name.lower().endswith(".zip") or (content[:4] == b"PK\x03\x04"
                                             and not name.lower().endswith(INVOICE_EXT)):
            if depth >= MAX_DEPTH:
                summary.add(member_label, "refused", f"archives nested deeper than {MAX_DEPTH}")
                continue
            yield from _zip_entries(content, member_label, summary, depth + 1, budget)
            continue
        yield Entry(member_label, name, lambda content=content: content)


def _file_entries(path: Path, summary: ImportSummary) -> Iterator[Entry]:
    if path.is_dir():
        for child in sorted(path.rglob("*")):
            if child.is_file() and not any(p.startswith(".") for p in
                                           child.relative_to(path).parts):
                yield from _file_entries(child, summary)
        return
    try:
        check_regular(path)  # a FIFO or a device would block or never end
        size = path.stat().st_size
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, FileNotFoundError) and not path.is_symlink():
            reason = "no such file or folder"
        summary.add(str(path), "invalid", reason)
        return
    if path.suffix.lower() == ".zip":
        if size > MAX_TOTAL_BYTES:
            summary.add(str(path), "refused", f"archive of {size} bytes is too big")
            return
        yield from _zip_entries(path.read_bytes(), str(path), summary, 1, [MAX_TOTAL_BYTES])
        return
    if size > MAX_FILE_BYTES:
        summary.add(str(path), "refused", f"file of {size} bytes exceeds {MAX_FILE_BYTES}")
        return
    yield Entry(str(path), path.name, path.read_bytes)


def collect(paths: list[Path], summary: ImportSummary) -> list[Entry]:
    """Every candidate entry of the inputs (archives opened, folders walked)."""
    entries: list[Entry] = []
    for path in paths:
        entries.extend(_file_entries(Path(path), summary))
    return entries


