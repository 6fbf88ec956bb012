"""Where the shipped data lives: the official XSDs and the data folder.

In a wheel they are package data (`_schemas`, `_data`); in a source checkout or an editable
install they are the repository's `schemas/` and `data/` folders.
"""

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[-1]


@cache
def schemas_dir() -> Path:
    """The folder holding the official, unmodified XSDs."""
    return _first_existing(_PACKAGE / "_schemas", _PACKAGE.parent / "schemas")


@cache
def data_dir() -> Path:
    """The folder holding code lists, demo data and templates."""
    return _first_existing(_PACKAGE / "_data", _PACKAGE.parent / "data")
