"""The Italian catalog translates every string the console shows; amounts parse per locale."""

from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from wpec_invoicing.web.console.i18n import Formats, parse_amount

CONSOLE = Path(__file__).resolve().parents[3] / "wpec_invoicing" / "web" / "console"
ROOT = CONSOLE.parents[2]


def _source_messages() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            ROOT, method_map=[("wpec_invoicing/web/console/**.py", "python"),
                              ("wpec_invoicing/web/console/templates/**.html", "jinja2")],
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def test_every_console_string_has_an_italian_translation():
    with (CONSOLE / "locales/it/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    translated = {(m.id[0] if isinstance(m.id, tuple) else m.id) for m in catalog
                  if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string)}
    shown = _source_messages()
    assert len(shown) > 200  # the extraction did see the templates
    missing = sorted(shown - translated)
    assert not missing, f"untranslated in it/messages.po: {missing}"


@pytest.mark.parametrize("typed,language,amount", [
    ("1.234,56", "it", "1234.56"), ("1234,56", "it", "1234.56"), ("1234.56", "it", "1234.56"),
    ("€ 73,81", "it", "73.81"), ("1,234.56", "en", "1234.56"), ("fattura 12", "it", None),
    ("2026/1", "it", None), ("", "it", None)])
def test_amounts_as_operators_type_them(typed, language, amount):
    assert parse_amount(typed, language) == (Decimal(amount) if amount else None)


def test_italian_formats():
    fmt = Formats("it")
    assert fmt.money(Decimal("1234.5")).replace("\xa0", " ") == "1.234,50 €"
    from datetime import date

    assert fmt.date(date(2026, 1, 5)) == "5 gen 2026"
