"""The list pages' JSON written straight from rows (`rows_json`) is, byte for byte, what the
models give (`list_adapter(model).dump_json` of the validated rows), and money is written as
it always was."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from wpec_invoicing.app.events import EventOut
from wpec_invoicing.app.models import Model, _plain_fields, list_adapter, rows_json
from wpec_invoicing.app.received import ReceivedDetail, ReceivedSummary
from wpec_invoicing.app.sent import SentSummary
from wpec_invoicing.app.timefmt import _money_text

ZONES = [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-5, minutes=-30)),
         ZoneInfo("UTC"), ZoneInfo("Europe/Rome"), None]  # None: naive (SQLite's kind)

times = st.builds(lambda d, tz: d.replace(tzinfo=tz),
                  st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 1, 1)),
                  st.sampled_from(ZONES))
money = st.decimals(allow_nan=False, allow_infinity=False, places=None,
                    min_value=Decimal("-1e15"), max_value=Decimal("1e15"))
text = st.text(max_size=30)  # any code point: escapes, controls, U+2028, astral planes
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats() | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8)
objects = st.none() | st.dictionaries(text, json_values, max_size=4)


def _strategy(annotation_of: str) -> Any:
    return {"int": st.integers(1, 2**31 - 1), "str": text, "opt_str": st.none() | text,
            "date": st.none() | st.dates(), "money": st.none() | money, "time": times,
            "opt_time": st.none() | times, "object": objects}[annotation_of]


RECEIVED = ["int", "str", "opt_str", "str", "opt_str", "opt_str", "opt_str", "opt_str",
            "opt_str", "date", "opt_str", "money", "time"]
SENT = ["int", "str", "str", "str", "str", "opt_str", "opt_str", "str", "opt_str", "opt_str",
        "opt_str", "object", "time", "opt_time"]
EVENTS = ["int", "str", "time", "str", "str", "object"]


def _same_bytes(model, rows) -> None:
    keys = list(model.model_fields)
    adapter = list_adapter(model)
    expected = adapter.dump_json(adapter.validate_python(
        [dict(zip(keys, row, strict=True)) for row in rows]))
    assert rows_json(model, keys, rows) == expected


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*map(_strategy, RECEIVED)), max_size=5))
def test_received_rows(rows):
    _same_bytes(ReceivedSummary, rows)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*map(_strategy, SENT)), max_size=5))
def test_sent_rows(rows):
    _same_bytes(SentSummary, rows)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*map(_strategy, EVENTS)), max_size=5))
def test_event_rows(rows):
    _same_bytes(EventOut, rows)


def test_what_the_writer_cannot_reproduce_takes_the_models_way():
    class Plain(Model):
        at: datetime  # no `Aware`: a naive time would stay naive
        amount: Decimal  # not `Money`

    assert _plain_fields(ReceivedSummary) is not None and _plain_fields(Plain) is None
    assert _plain_fields(ReceivedDetail) is None  # nested models
    rows = [(datetime(2026, 1, 2, 3, 4, 5), Decimal("1.5000"))]
    _same_bytes(Plain, rows)
    # An integer beyond 64 bits (orjson refuses it): the models write it.
    _same_bytes(EventOut, [(1, "t", datetime(2026, 1, 1, tzinfo=UTC), "s", "1",
                            {"big": 2**70})])
    # Keys in another order than the fields: the models' way as well.
    keys = ["status", "id"]

    class Two(Model):
        id: int
        status: str

    assert rows_json(Two, keys, [("ok", 1)]) == b'[{"id":1,"status":"ok"}]'


def _reference_money(value: Decimal) -> str:
    """The arithmetic `_money_text` used before it worked on the text (the reference)."""
    normal = value.normalize()
    if normal.as_tuple().exponent > -2:
        normal = value.quantize(Decimal("0.01"))
    return f"{normal:f}"


@settings(max_examples=500, deadline=None)
@given(money)
def test_money_text_is_the_reference(value):
    try:
        expected = _reference_money(value)
    except InvalidOperation:  # beyond the decimal context's precision: never reached
        return
    assert _money_text(value) == expected


def test_money_text_examples():
    assert [_money_text(Decimal(v)) for v in ("2.00000000", "1.23456000", "1E+3", "0.000",
                                              "-1.1", "122.00", "-0")] == [
        "2.00", "1.23456", "1000.00", "0.00", "-1.10", "122.00", "-0.00"]


def test_rows_become_the_dicts_zip_makes():
    from wpec_invoicing.app.models import _row_dicts

    rows = [(1, "a", None), (2, "b\"'}{", {"x": 1})]
    for keys in (("id", "status", "payload"), ("a b", "c'd", "e")):  # identifiers or not
        assert _row_dicts(keys)(rows) == [dict(zip(keys, row, strict=True)) for row in rows]
    assert _row_dicts(("id",))([]) == []
