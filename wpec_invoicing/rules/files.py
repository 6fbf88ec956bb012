"""Saving what rules ask for: safe names, the path template, the accepted-formats allow-list.

Why so careful: these folders are where the accounting software picks files up. A hostile
attachment name (`../../x`, `CON`, control characters, 300 characters) must never escape the
folder or break a Windows share, and a file whose content is not what its extension says
(an executable called `fattura.pdf`) must never land there: it is quarantined and reported.
"""

from __future__ import annotations

import functools
import os
import re
import stat
import string
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import filetype

from wpec_invoicing.store.durability import temp_name, write_new

_UNSAFE = re.compile(r"[^\w.\- ()+,@=]+", re.UNICODE)
_WINDOWS_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(1, 10)),
                     *(f"lpt{i}" for i in range(1, 10))}
MAX_NAME = 120

# Extensions whose content has no magic number (text, DER): sniffing must find nothing.
TEXTUAL = {"xml", "txt", "csv", "eml", "html", "htm", "p7m", "p7s", "json", "ics", "vcf"}
# Extensions with a magic number: what filetype may call them.
SNIFFED_AS: dict[str, set[str]] = {
    "pdf": {"pdf"},
    "jpg": {"jpg"},
    "jpeg": {"jpg"},
    "png": {"png"},
    "gif": {"gif"},
    "tif": {"tif"},
    "tiff": {"tif"},
    "zip": {"zip"},
    "docx": {"docx", "zip"},
    "xlsx": {"xlsx", "zip"},
    "pptx": {"pptx", "zip"},
    "odt": {"odt", "zip"},
    "ods": {"ods", "zip"},
    "odp": {"odp", "zip"},
    "p7m": set(),
}


def safe_name(name: str | None, default: str = "file") -> str:
    """A file name that is safe on every file system and never a path."""
    if not name:
        return default
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").split("/")[-1]  # keep the last component only
    name = "".join(ch for ch in name if ch.isprintable())
    name = _UNSAFE.sub("_", name).strip(" ._")
    while ".." in name:
        name = name.replace("..", ".")
    if not name:
        return default
    stem = name.split(".", 1)[0].lower()
    if stem in _WINDOWS_RESERVED:
        name = "_" + name
    if len(name) > MAX_NAME:
        root, dot, ext = name.rpartition(".")
        if dot and len(ext) <= 10:
            name = root[: MAX_NAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME]
    return name


def extension(name: str) -> str:
    """`fattura.xml.p7m` → `p7m`; lower case, no dot."""
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


@dataclass(frozen=True)
class FormatVerdict:
    accepted: bool
    sniffed: str | None
    reason: str | None = None


def check_format(name: str, data: bytes, allowed: list[str]) -> FormatVerdict:
    """Allow-list by extension, then the sniffed content must agree with the extension."""
    ext = extension(name)
    kind = filetype.guess(data[:8192]) if data else None
    sniffed = kind.mime if kind else None
    sniffed_ext = kind.extension if kind else None
    if ext not in allowed:
        return FormatVerdict(False, sniffed, f"extension .{ext or '(none)'} is not accepted")
    if SNIFFED_AS.get(ext):
        if sniffed_ext not in SNIFFED_AS[ext]:
            what = sniffed or "unrecognised content"
            return FormatVerdict(False, sniffed, f".{ext} file whose content is {what}")
        return FormatVerdict(True, sniffed)
    if ext in TEXTUAL or ext in SNIFFED_AS:
        if sniffed_ext is not None:
            return FormatVerdict(False, sniffed, f".{ext} file whose content is {sniffed}")
        return FormatVerdict(True, sniffed)
    # Allowed by the operator but unknown to us: refuse only content that is clearly other.
    if sniffed_ext in {"exe", "elf", "dll", "msi", "dex", "sh"}:
        return FormatVerdict(False, sniffed, f".{ext} file whose content is {sniffed}")
    return FormatVerdict(True, sniffed)


class _SafeField(str):
    """A template value: formatting it never yields a path separator."""


def render_path(template: str, *, root: Path, kind: str, date: datetime, sender: str | None,
                subject: str | None, message_id: int | str, sha256: str,
                extra: dict[str, Any] | None = None) -> Path:
    """Expand the template into a folder under `root`; refuses anything escaping `root`."""
    values: dict[str, Any] = {
        "kind": safe_name(kind, "unknown"),
        "date": date,
        "sender": safe_name(sender, "unknown-sender")[:60],
        "subject": safe_name(subject, "no-subject")[:60],
        "id": str(message_id),
        "sha": sha256[:12],
        "sha256": sha256,
    }
    for key, value in (extra or {}).items():
        values[key] = safe_name(str(value), "x") if not isinstance(value, datetime) else value
    try:
        fields = [f for _t, f, _s, _c in string.Formatter().parse(template) if f]
        unknown = sorted({f.split(".")[0].split("[")[0] for f in fields} - set(values))
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(unknown)} in path template "
                             f"{template!r} (use: {', '.join(sorted(values))})")
        rendered = template.format(**values)
    except (KeyError, IndexError, AttributeError) as exc:
        raise ValueError(f"bad path template {template!r}: {exc}") from None
    parts = [safe_name(p, "_") for p in rendered.replace("\\", "/").split("/") if p not in ("",
                                                                                          ".")]
    folder = root.joinpath(*parts) if parts else root
    if not _no_link_below(root, parts) and \
            not folder.resolve().is_relative_to(_resolved(root)):
        raise ValueError(f"path template {template!r} escapes {root}")
    return folder


def _no_link_below(root: Path, parts: list[str]) -> bool:
    """True when no folder of `parts` under `root` is a symbolic link (the ones that exist:
    below the first missing one nothing does); False when one is, or when it cannot tell.

    Why: the parts are safe names (no separator, no `..`), so only a link can lead out of
    `root`, and resolving the whole path (every component from `/`, in Python) cost more
    than writing the files: a look at the few folders below `root` says the same. When a
    link is there, the full check decides (a link that stays inside is fine)."""
    path = os.fspath(root)
    for part in parts:
        path = os.path.join(path, part)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return True
        except OSError:
            return False
        if stat.S_ISLNK(mode):
            return False
    return True


@functools.lru_cache(maxsize=64)
def _resolved_cached(root: Path, _inode: tuple[int, int] | None) -> Path:
    return root.resolve()


def _resolved(root: Path) -> Path:
    """`root.resolve()`, once per root folder (a saved file's folder is resolved each time:
    a link inside may point out). Keyed by the folder's identity too, so a root that is
    replaced (another folder or link put in its place) is resolved again."""
    try:
        st = os.stat(root)
        identity: tuple[int, int] | None = (st.st_dev, st.st_ino)
    except OSError:
        identity = None
    return _resolved_cached(root, identity)


def write_file(folder: Path, name: str, data: bytes) -> Path:
    """Atomically write `data` as `folder/name` (same bytes again = same file, idempotent).

    Not fsynced: these are working copies for the accounting software; the durable copy is
    the archive's, and a crash before the processing commit re-saves them on the next run.
    """
    target = folder / safe_name(name)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        folder.mkdir(parents=True, exist_ok=True)
    else:
        if stat.S_ISREG(st.st_mode) and st.st_size == len(data) and \
                target.read_bytes() == data:
            return target
    tmp = temp_name(folder)
    try:
        write_new(tmp, data)
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return target
