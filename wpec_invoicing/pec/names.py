"""Safe file names for attachments: what a hostile sender writes must never become a path.

Keeps ordinary names (SdI file names included) byte-identical, so matching by name works.
"""

from __future__ import annotations

import re
import unicodedata

_UNSAFE = re.compile(r"[\x00-\x1f\x7f<>:\"/\\|?*]")
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.I)
MAX_BYTES = 200


def safe_filename(name: str | None, fallback: str = "attachment") -> str:
    """A name safe to create in any folder: no path parts, no control or reserved
    characters, not hidden, not a device name, at most 200 bytes (extension kept)."""
    if not name:
        return fallback
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]  # basename, whatever the separator
    name = _UNSAFE.sub("_", name).strip().strip(".").strip()
    if not name:
        return fallback
    if _RESERVED.match(name):
        name = "_" + name
    if len(name.encode("utf-8")) > MAX_BYTES:
        stem, dot, ext = name.rpartition(".")
        if not dot or len(ext) > 16:
            stem, ext = name, ""
        budget = MAX_BYTES - len(ext.encode("utf-8")) - (1 if ext else 0)
        stem = stem.encode("utf-8")[:budget].decode("utf-8", "ignore")
        name = f"{stem}.{ext}" if ext else stem
    return name


def unique_names(names: list[str]) -> list[str]:
    """Make names unique within one message: `a.pdf`, `a (2).pdf`, … (case-insensitive)."""
    seen: set[str] = set()
    out: list[str] = []
    for name in names:
        candidate = name
        counter = 2
        while candidate.lower() in seen:
            stem, dot, ext = name.rpartition(".")
            candidate = f"{stem} ({counter}).{ext}" if dot and stem else f"{name} ({counter})"
            counter += 1
        seen.add(candidate.lower())
        out.append(candidate)
    return out
