"""Events: written in the change's transaction; `after=ID` never misses one, also when
concurrent PostgreSQL transactions draw ids in one order and would commit in another."""

import threading
import time

from wpec_invoicing.app import events
from wpec_invoicing.store.events import record_event


def test_an_event_exists_only_if_its_transaction_commits(ctx) -> None:
    with ctx.session() as s:
        record_event(s, "invoice.received", "received_invoice", 1, {"status": "verified"})
    try:
        with ctx.session() as s:
            record_event(s, "invoice.received", "received_invoice", 2)
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    page = events.list_events(ctx, after=0)
    assert [(e.type, e.subject_id, e.payload) for e in page.items] == [
        ("invoice.received", "1", {"status": "verified"})]
    assert page.items[0].at.tzinfo is not None
    assert events.list_events(ctx, after=page.last_id).items == []


def test_a_follower_never_misses_an_event_of_slow_concurrent_writers(ctx) -> None:
    """Writers hold their transaction open after recording (as a slow service would) while
    others record and commit; a reader polls `after=last seen` the whole time. Every event
    must reach the reader, each exactly once, in id order."""
    writers, per_writer = 6, 8
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for i in range(per_writer):
                with ctx.session() as s:
                    record_event(s, "test.write", "writer", n, {"i": i})
                    time.sleep(0.002 * ((n + i) % 4))  # commit later than the others drew
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    def read() -> None:
        after = 0
        while True:
            done = stop.is_set()
            page = events.list_events(ctx, after=after, limit=7)
            seen.extend(e.id for e in page.items)
            after = page.last_id
            if done and not page.items:
                return

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    reader.join()
    assert not errors
    committed = [e.id for e in events.list_events(ctx, after=0, limit=500).items]
    assert len(committed) == writers * per_writer
    assert seen == committed  # none missed, none twice, in order


def test_long_poll_returns_as_soon_as_an_event_commits(ctx) -> None:
    last = events.last_event_id(ctx)

    def later() -> None:
        time.sleep(0.3)
        with ctx.session() as s:
            record_event(s, "alert.raised", "alert", 7)

    t = threading.Thread(target=later)
    t.start()
    page = events.wait_events(ctx, after=last, wait=20)
    t.join()
    assert [e.type for e in page.items] == ["alert.raised"]
    assert events.wait_events(ctx, after=page.last_id, wait=0).items == []


def test_type_and_subject_filters_are_the_same_on_the_async_read(ctx) -> None:
    from tests.unit.app.aio import run

    with ctx.session() as s:
        for kind, subject in [("invoice.received", 1), ("sent_invoice.RC", 2),
                              ("sentXinvoice.odd", 3), ("alert.raised", 4),
                              ("invoice.verified", 1)]:
            record_event(s, kind, kind.split(".")[0], subject)

    def both(**filters) -> list[str]:
        page = events.list_events(ctx, **filters)
        assert run(events.list_events_async(ctx, **filters)) == page, filters
        return [e.type for e in page.items]

    assert both(types=["invoice."]) == ["invoice.received", "invoice.verified"]
    assert both(types=["sent_invoice."]) == ["sent_invoice.RC"]  # "_" is not a wildcard
    assert both(types=["alert.raised", "sent_invoice.RC"]) == ["sent_invoice.RC",
                                                               "alert.raised"]
    assert both(types=["invoice."], subject_type="invoice", subject_id="1") == [
        "invoice.received", "invoice.verified"]
    first = events.list_events(ctx, limit=2)
    assert both(after=first.last_id, limit=500)[0] == "sentXinvoice.odd"


def test_the_api_json_is_the_page_models_json(ctx) -> None:
    """`list_events_json` (rows written straight to JSON on PostgreSQL) gives the bytes of
    `list_events`' `EventPage`, for filters, payloads of every JSON kind and an empty page."""
    from tests.unit.app.aio import run

    payloads = [{"status": "verified", "total": "12.50"}, None, {"nested": {"a": [1, 2.5, None]},
                "è": "caffè \u2028", "flag": True}, {}]
    with ctx.session() as s:
        for i, payload in enumerate(payloads * 2):
            record_event(s, ("invoice.received", "sent_invoice.RC")[i % 2], "x", i, payload)

    def same(**filters) -> int:
        page = events.list_events(ctx, **filters)
        as_json = run(events.list_events_json(ctx, **filters))
        assert as_json.body == page.model_dump_json().encode(), filters
        assert as_json.count == len(page.items)
        return len(page.items)

    assert same() == 8
    assert same(after=3, limit=2) == 2
    assert same(types=["sent_invoice."]) == 4
    assert same(after=10**9) == 0  # empty: last_id is the cursor
