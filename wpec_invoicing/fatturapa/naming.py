"""FatturaPA file names: `<IdPaese><IdCodice>_<progressivo>.<ext>` (SdI check 00001).

IdCodice is 11–16 characters for IT, 2–28 for other countries; the progressivo 1–5
characters [A-Za-z0-9]; the extension xml, xml.p7m or zip (any case: `.XML` occurs in the
wild and SdI accepts it).
"""

from __future__ import annotations

import re

FILE_NAME_RE = re.compile(
    r"^(IT[a-zA-Z0-9]{11,16}|(?!IT)[A-Z]{2}[a-zA-Z0-9]{2,28})_[a-zA-Z0-9]{1,5}"
    r"\.(?i:xml|zip|p7m)(?i:\.p7m)?$"
)
_ID_RE = {
    True: re.compile(r"^[a-zA-Z0-9]{11,16}$"),
    False: re.compile(r"^[a-zA-Z0-9]{2,28}$"),
}
_PROGRESSIVO_RE = re.compile(r"^[a-zA-Z0-9]{1,5}$")
EXTENSIONS = ("xml", "xml.p7m", "zip")


def is_valid_file_name(name: str) -> bool:
    """True when SdI accepts `name` as an invoice file name (check 00001)."""
    if not isinstance(name, str):
        return False
    if not FILE_NAME_RE.fullmatch(name):
        return False
    # The regex lets ".p7m" alone and ".zip.p7m" through; SdI wants xml, xml.p7m or zip.
    ext = name.split("_", 1)[1].split(".", 1)[1].lower()
    return ext in EXTENSIONS


def invoice_file_name(country: str, code: str, progressivo: str, ext: str = "xml") -> str:
    """Build `IT01234567890_00001.xml`; raises ValueError for parts SdI would refuse."""
    country = (country or "").upper()
    ext = ext.lstrip(".").lower()
    if not re.fullmatch(r"[A-Z]{2}", country):
        raise ValueError(f"country must be two letters (IdPaese), got {country!r}")
    if not _ID_RE[country == "IT"].match(code or ""):
        limits = "11-16" if country == "IT" else "2-28"
        raise ValueError(f"code must be {limits} letters or digits for {country}, got {code!r}")
    if not _PROGRESSIVO_RE.match(progressivo or ""):
        raise ValueError(f"progressivo must be 1-5 letters or digits, got {progressivo!r}")
    if ext not in EXTENSIONS:
        raise ValueError(f"extension must be one of {', '.join(EXTENSIONS)}, got {ext!r}")
    return f"{country}{code}_{progressivo}.{ext}"
