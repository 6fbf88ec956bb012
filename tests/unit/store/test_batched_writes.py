"""Rows written in batches: deferred log rows, ids drawn ahead, JSON stored as handed over.

Each on SQLite and PostgreSQL: what a reader finds afterwards must be exactly what writing
the rows one by one would have left (ids in order, nothing of a rolled-back block)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from wpec_invoicing.store.app_models import Event
from wpec_invoicing.store.batch import deferred_inserts, insert_row
from wpec_invoicing.store.db import Store
from wpec_invoicing.store.events import record_event
from wpec_invoicing.store.ids import reserve_ids
from wpec_invoicing.store.json_doc import JsonDoc
from wpec_invoicing.store.models import Message, RuleAction


def _message(session, n: int) -> int:
    msg = Message(sha256=f"{n:064x}", size=1)
    session.add(msg)
    session.flush()
    return msg.id


def test_deferred_rows_land_at_the_end_in_order_and_not_at_all_on_error(db_url: str) -> None:
    store = Store(db_url)
    try:
        with store.session() as s:
            mid = _message(s, 1)
            with deferred_inserts(s):
                for i in range(5):
                    insert_row(s, RuleAction.__table__, {
                        "message_id": mid, "action": f"a{i}", "status": "done",
                        "target": None, "detail": None, "location_id": None})
                    record_event(s, "test.event", "message", mid, {"i": i})
                # nothing is written before the block ends
                assert s.scalar(select(RuleAction.id).limit(1)) is None
            savepoint = s.begin_nested()
            try:
                with deferred_inserts(s):
                    record_event(s, "test.lost", "message", mid)
                    raise RuntimeError("the block fails")
            except RuntimeError:
                savepoint.rollback()
        with store.session() as s:
            actions = list(s.scalars(select(RuleAction.action).order_by(RuleAction.id)))
            events = [(e.type, e.payload) for e in s.scalars(select(Event).order_by(Event.id))]
        assert actions == [f"a{i}" for i in range(5)]
        assert events == [("test.event", {"i": i}) for i in range(5)]
    finally:
        store.close()


def test_reserved_ids_are_the_next_ones_and_usable(db_url: str) -> None:
    store = Store(db_url)
    try:
        with store.session() as s:
            first = _message(s, 1)
            ids = reserve_ids(s, Message.__table__, 3)
            assert ids == sorted(ids) and len(set(ids)) == 3 and ids[0] > first
            s.add_all([Message(id=i, sha256=f"{i + 100:064x}", size=1) for i in ids])
            s.flush()
            # the database's own next id comes after the reserved ones
            assert _message(s, 2) > ids[-1]
            assert reserve_ids(s, Message.__table__, 0) == []
    finally:
        store.close()


def test_a_json_doc_is_stored_as_its_text_and_read_back_as_the_same_value(db_url: str) -> None:
    value = {"subject": "Fattura n. 1 – è", "n": [1, 2.5, None], "nested": {"ok": True}}
    store = Store(db_url)
    try:
        with store.session() as s:
            msg = Message(sha256="f" * 64, size=1, details=JsonDoc(json.dumps(value)))
            plain = Message(sha256="e" * 64, size=1, details=value)
            s.add_all([msg, plain])
            s.flush()
            ids = msg.id, plain.id
        with store.session() as s:
            got = [s.get(Message, i).details for i in ids]
            stored = [s.scalar(text("SELECT details FROM messages WHERE id = :i"), {"i": i})
                      for i in ids]
        assert got == [value, value]
        assert stored[0] == stored[1]
    finally:
        store.close()


@pytest.mark.parametrize("bad", ["not json", "{"])
def test_a_json_doc_refuses_text_that_is_not_json(bad: str) -> None:
    with pytest.raises(ValueError):
        JsonDoc(bad)
