"""Both catalogs translate every string the console shows (Italian, and English without
Italian left in it) and compile; amounts parse per locale."""

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


def _catalog(language: str):
    with (CONSOLE / f"locales/{language}/LC_MESSAGES/messages.po").open("rb") as fh:
        return read_po(fh, locale=language)


def _key(message) -> str:
    return message.id[0] if isinstance(message.id, tuple) else message.id


def _translated(catalog) -> dict[str, object]:
    return {_key(m): m.string for m in catalog
            if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string)}


@pytest.mark.parametrize("language", ["it", "en"])
def test_every_console_string_has_a_translation(language):
    shown = _source_messages()
    assert len(shown) > 200  # the extraction did see the templates
    missing = sorted(shown - _translated(_catalog(language)).keys())
    assert not missing, f"untranslated in {language}/messages.po: {missing}"


def test_the_english_catalog_holds_no_italian():
    """An English entry copied from the Italian catalog would show Italian to English users."""
    italian, english = _translated(_catalog("it")), _translated(_catalog("en"))
    leaked = sorted(key for key, text in english.items()
                    if text == italian.get(key) and italian.get(key) not in (key, (key,)) and
                    not (isinstance(text, tuple) and text[0] == key))
    assert not leaked, f"Italian text in en/messages.po: {leaked}"


@pytest.mark.parametrize("language", ["it", "en"])
def test_catalogs_compile_with_matching_placeholders(language):
    """What the console does at start-up (i18n.translations), and Babel's checks: a
    translation whose %(name)s placeholders differ from the msgid's would fail at render."""
    from wpec_invoicing.web.console.i18n import translations

    problems = [(m.id, [str(e) for e in errors]) for m, errors in _catalog(language).check()]
    assert not problems, problems
    translations.cache_clear()
    assert translations(language).gettext("Dashboard") == (
        "Cruscotto" if language == "it" else "Dashboard")


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
