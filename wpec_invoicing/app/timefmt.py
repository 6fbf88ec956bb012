"""Types for the application's models: aware times, money as decimal strings.

Why: SQLite hands back naive datetimes (everything is stored in UTC), and the API promises
ISO 8601 with an offset; money is `Decimal` inside and a string on the wire, never a float.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema


def _aware(value: object) -> object:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _money_text(value: Decimal) -> str:
    """2.00000000 → "2.00", 1.23456000 → "1.23456", 1E+3 → "1000.00": at least two
    decimals, no padding.

    On the text of the number rather than with `normalize`/`quantize`: a page serialises
    one of these per row and per amount, and the string work is about 5x cheaper. A number
    longer than the decimal context's 28 digits (never one the store holds) keeps the
    arithmetic, which rounds it to the context: the two agree on everything (tests)."""
    text = f"{value:f}"
    if len(text) > 28:
        normal = value.normalize()
        if normal.as_tuple().exponent > -2:  # type: ignore[operator]
            normal = value.quantize(Decimal("0.01"))
        return f"{normal:f}"
    whole, _, decimals = text.partition(".")
    if len(decimals) == 2:
        return text
    return f"{whole}.{decimals.rstrip('0'):0<2}"


Aware = Annotated[datetime, BeforeValidator(_aware)]
Money = Annotated[
    Decimal,
    PlainSerializer(_money_text, return_type=str, when_used="always"),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$",
                    "examples": ["1220.00"]}, mode="serialization"),
]
