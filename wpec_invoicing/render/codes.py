"""Descriptions of official codes (TD01, N2.2, MP05, RF19, TP02, RC…) from ONE table.

Why one table in `data/codes/fatturapa.json`: the invoice renderer, the PEC renderer and any
interface that shows a code must describe it in the same words, and a new spec release (a new
TipoDocumento, a new Natura) is a one-line, reviewable change of data, not of code.
"""

from __future__ import annotations

import json
from functools import cache

from wpec_invoicing.resources import data_dir

CODES_FILE = "codes/fatturapa.json"


@cache
def code_tables() -> dict[str, dict[str, str]]:
    """Every table of the code file, by name (`TipoDocumento`, `Natura`, ...)."""
    raw = json.loads((data_dir() / CODES_FILE).read_text(encoding="utf-8"))
    return {name: table for name, table in raw.items() if not name.startswith("_")}


def describe(table: str, code: str | None) -> str | None:
    """The description of `code` in `table`, or None when the code is unknown (a renderer
    then shows the bare code, never a guess)."""
    if not code:
        return None
    return code_tables()[table].get(code)


def labelled(table: str, code: str | None) -> str:
    """`code – description` (or the bare code when unknown, or '' when there is none)."""
    if not code:
        return ""
    text = describe(table, code)
    return f"{code} – {text}" if text else code
