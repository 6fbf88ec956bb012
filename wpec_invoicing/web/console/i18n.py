"""Languages of the console: Italian first, English available; dates and amounts per locale.

Why the catalogs are read from their `.po` files (compiled in memory once per process) rather
than from committed `.mo` files: one source of truth that cannot go stale, no build step, and
the `.po` files ship in the wheel (package data). Source strings (msgids) are English; the
Italian catalog must translate every one of them (a test checks it against the templates).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).resolve().parent / "locales"
LANGUAGES = {"it": "it_IT", "en": "en_GB"}  # console language -> Babel locale for formats
DEFAULT = "it"
TIMEZONE = "Europe/Rome"  # the company's clock: SdI deadlines are Italian days


@cache
def translations(language: str) -> NullTranslations:
    """The catalog of `language` (English msgids are the fallback)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    po = LOCALES_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.is_file():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer, domain="messages")


def pick(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT


class Formats:
    """The formatting filters templates use, for one language."""

    def __init__(self, language: str) -> None:
        self.language = pick(language)
        self.locale = LANGUAGES[self.language]

    def money(self, value: Decimal | str | None, currency: str | None = "EUR") -> str:
        from babel.numbers import format_currency, format_decimal

        if value is None or value == "":
            return ""
        amount = Decimal(str(value))
        if currency:
            return format_currency(amount, currency, locale=self.locale)
        return format_decimal(amount, format="#,##0.00", locale=self.locale)

    def number(self, value: int | Decimal | None) -> str:
        from babel.numbers import format_decimal

        return "" if value is None else format_decimal(value, locale=self.locale)

    def date(self, value: date | datetime | str | None) -> str:
        from babel.dates import format_date

        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = date.fromisoformat(value[:10])
        if isinstance(value, datetime):
            value = value.date()
        return format_date(value, "medium", locale=self.locale)

    def datetime(self, value: datetime | str | None) -> str:
        from babel.dates import format_datetime

        if value is None or value == "":
            return ""
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return format_datetime(value, "short", tzinfo=TIMEZONE, locale=self.locale)


_PLAIN_DECIMAL = re.compile(r"^-?\d+\.\d{1,2}$")


def parse_amount(text: str, language: str) -> Decimal | None:
    """An amount as an operator types it: `1.234,56` or `1234,56` in Italian, `1,234.56` in
    English; `1234.56` (a lone dot and one or two decimals) is read as a decimal point in
    either. None when the text is not an amount (then it is searched as words)."""
    from babel.numbers import NumberFormatError, parse_decimal

    text = text.strip().replace("€", "").replace("\u00a0", "").replace(" ", "")
    if not text or not re.search(r"\d", text) or re.search(r"[^\d.,-]", text):
        return None
    if _PLAIN_DECIMAL.match(text):
        return Decimal(text)
    try:
        return parse_decimal(text, locale=LANGUAGES[pick(language)], strict=True)
    except (NumberFormatError, InvalidOperation, ValueError):
        return None
