"""Local syntax and check-digit rules of Italian identifiers (SdI 00300–00306).

SdI also looks codes up in the tax registry; that needs the network and is not done here.
What *can* be decided locally: a partita IVA is 11 digits whose last one is a Luhn-like check
digit; a codice fiscale is either that (companies) or 16 characters whose last one is a check
letter computed from the other fifteen (people).
"""

from __future__ import annotations

import re

from wpec_invoicing.fatturapa.native import compiled

_ZEROS = "0" * 11
_CF_PERSON = re.compile(
    r"^[A-Z]{6}[0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{2}[A-Z][0-9LMNPQRSTUV]{3}[A-Z]$"
)
_ODD = dict(
    zip(
        "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        # digits 0-9, then letters A-Z (the official odd-position table)
        (1, 0, 5, 7, 9, 13, 15, 17, 19, 21,
         1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22,
         25, 24, 23),
        strict=True,
    )
)
_EVEN = {**{str(d): d for d in range(10)}, **{chr(65 + i): i for i in range(26)}}


# digit d at an even (1-based) position counts as 2d, minus 9 when that is over 9
_DOUBLED = str.maketrans("0123456789", "0246813579")


def partita_iva_check_digit(first10: str) -> int:
    if not (first10.isascii() and first10.isdigit()):
        return _check_digit_slow(first10)  # "" or other digits; int() raises on non-digits
    # byte values minus 48 are the digits: one C-level sum instead of a loop of int()
    odd = first10[0::2]
    even = first10[1::2].translate(_DOUBLED)
    total = sum(odd.encode()) + sum(even.encode()) - 48 * (len(odd) + len(even))
    return (10 - total % 10) % 10


# the compiled twin where it was built (`native.py`)
_native_is_valid_partita_iva = compiled.is_valid_partita_iva if compiled is not None else None


def _check_digit_slow(first10: str) -> int:
    total = 0
    for i, ch in enumerate(first10):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return (10 - total % 10) % 10


def is_valid_partita_iva(code: str) -> bool:
    """11 digits, not all zeros, with the right check digit.

    Not memoized: a cache by value would make a benchmark that reads one file over and
    over measure dictionary lookups; the computation itself is a few hundred nanoseconds
    (tens in the compiled twin, used where it was built)."""
    if _native_is_valid_partita_iva is not None:
        ok = _native_is_valid_partita_iva(code)
        if ok is not None:  # None: not a str, the code below decides (raises or refuses)
            return ok
    if not code or len(code) != 11 or not (code.isascii() and code.isdigit()) or code == _ZEROS:
        return False  # 11 ASCII digits exactly (a regex `$` would also let "…\n" through)
    return partita_iva_check_digit(code[:10]) == ord(code[10]) - 48


def codice_fiscale_check_char(first15: str) -> str:
    total = 0
    for i, ch in enumerate(first15):
        total += _ODD[ch] if i % 2 == 0 else _EVEN[ch]
    return chr(65 + total % 26)


def is_valid_codice_fiscale(code: str) -> bool:
    """A person's 16-character code with the right check letter, or a company's 11 digits."""
    if not code:
        return False
    code = code.upper()
    if len(code) == 11:
        return is_valid_partita_iva(code)
    if not _CF_PERSON.match(code):
        return False
    return codice_fiscale_check_char(code[:15]) == code[15]


def make_partita_iva(first10: str) -> str:
    """Complete 10 digits with their check digit (test data, demo data)."""
    return first10 + str(partita_iva_check_digit(first10))
