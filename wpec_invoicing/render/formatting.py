"""Italian formatting of what a reader sees: money, quantities, rates, dates (Babel, it_IT).

Why Babel: `1.234,50 €` and `4 dicembre 2026` are what an Italian accountant reads; Python's
own `locale` needs the OS locale installed and is process-global (not safe in a server).
Formatting is done from `Decimal` values as they are: never through float, never rounding a
quantity or a unit price to two places when the invoice carries more (FatturaPA allows 8).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime
from babel.numbers import get_decimal_symbol, get_group_symbol

LOCALE = "it_IT"
ROME = ZoneInfo("Europe/Rome")


@cache
def _locale() -> Locale:
    return Locale.parse(LOCALE)


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@cache
def _separators() -> dict[int, str]:
    """it_IT's group and decimal symbols, from Babel's CLDR data (`.` and `,`), as a
    translation table from Python's own `1,234.5` formatting."""
    return str.maketrans({",": get_group_symbol(_locale()), ".": get_decimal_symbol(_locale())})


def number(value: Decimal | int | None, *, min_places: int = 0, max_places: int = 8) -> str:
    """`1.234,5` — as many decimal places as the value carries, within the bounds.

    Why not `babel.numbers.format_decimal` per value: it parses its pattern on every call and
    was 60 % of an invoice page's time; the symbols are Babel's, the digits Python's."""
    if value is None:
        return ""
    value = Decimal(value)
    places = min(max(_places(value.normalize()), min_places), max_places)
    value = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    return f"{value:,.{places}f}".translate(_separators())


def money(value: Decimal | None, currency: str | None = None) -> str:
    """`1.234,50` (two places at least, more when the value carries them, e.g. unit prices),
    followed by the currency symbol when given (`€`, `USD`)."""
    if value is None:
        return ""
    text = number(value, min_places=2)
    if currency:
        symbol = "€" if currency == "EUR" else currency
        text = f"{text}\u00a0{symbol}"
    return text


def rate(value: Decimal | None) -> str:
    """`22,00 %`: a VAT or withholding rate as FatturaPA writes it (two places)."""
    if value is None:
        return ""
    return f"{number(value, min_places=2, max_places=2)}\u00a0%"


def day(value: date | None) -> str:
    """`04/12/2026`: the short form, used in tables."""
    return format_date(value, format="dd/MM/yyyy", locale=_locale()) if value else ""


def long_day(value: date | None) -> str:
    """`4 dicembre 2026`: the form used in headings."""
    return format_date(value, format="long", locale=_locale()) if value else ""


def moment(value: datetime | None) -> str:
    """`04/12/2026 10:15:02 (CET)`: an instant, in Italian time (PEC and SdI timestamps)."""
    if value is None:
        return ""
    if value.tzinfo is None:
        return format_datetime(value, format="dd/MM/yyyy HH:mm:ss", locale=_locale())
    local = value.astimezone(ROME)
    return format_datetime(local, format="dd/MM/yyyy HH:mm:ss", locale=_locale()) + (
        f" ({local.tzname()})")


def size(value: int | None) -> str:
    """`12,3 kB`: a file size for a human."""
    if value is None:
        return ""
    for unit, scale in (("MB", 1 << 20), ("kB", 1 << 10)):
        if value >= scale:
            return f"{number(Decimal(value) / scale, max_places=1)}\u00a0{unit}"
    return f"{value}\u00a0byte"
