"""The received-invoice list: every filter, and the API's async read (psycopg's async driver
on PostgreSQL, rows written straight to JSON; a worker thread on SQLite) gives exactly the
pages of the CLI's sync read, byte for byte as JSON."""

import asyncio
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from tests.unit.app.aio import run
from wpec_invoicing.app import received
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.app.models import list_adapter
from wpec_invoicing.fatturapa import invoice_file_name, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice


def _import(ctx, days: list[int]) -> None:
    files = [(invoice_file_name("IT", "01234567890", f"{i:05d}"), write_invoice(sample_invoice(
        progressivo=f"{i:05d}", lines=1, on=date(2026, 3, day)))) for i, day in enumerate(days, 1)]
    assert received.import_files(ctx, files).imported == len(days)


def _both(ctx, **filters):
    """The page from the sync and from the async read, which must be the same."""
    sync = received.list_received(ctx, **filters)
    from_async = run(received.list_received_json(ctx, **filters))
    assert from_async.items == list_adapter(received.ReceivedSummary).dump_json(sync.items), \
        filters
    assert from_async.next_cursor == sync.next_cursor, filters
    return sync


def test_filters_and_cursor_pages_are_the_same_on_both_reads(ctx):
    _import(ctx, [3, 9, 15, 21])
    everything = _both(ctx).items
    assert len(everything) == 4
    first = everything[0]
    vat = first.supplier_vat
    assert [i.id for i in _both(ctx, supplier=vat).items] == [i.id for i in everything]
    assert len(_both(ctx, supplier=vat[2:]).items) == 4  # without the IT prefix
    assert _both(ctx, supplier="IT99999999999").items == []
    assert [i.invoice_date.day for i in _both(ctx, since=date(2026, 3, 9),
                                               until=date(2026, 3, 15)).items] == [9, 15]
    assert [i.id for i in _both(ctx, number=first.number).items] == [
        i.id for i in everything if i.number == first.number]
    assert _both(ctx, number="no-such-number").items == []
    assert len(_both(ctx, text=first.supplier_name[:5].lower()).items) == 4
    assert _both(ctx, text="100%_sure").items == []  # LIKE wildcards are literal text
    assert len(_both(ctx, status=first.status).items) >= 1

    one = _both(ctx, limit=3)
    rest = _both(ctx, limit=3, cursor=one.next_cursor)
    assert [i.id for i in one.items + rest.items] == [i.id for i in everything]
    assert rest.next_cursor is None


def test_bad_filters_are_refused_the_same_way(ctx):
    with pytest.raises(InvalidRequest, match="status"):
        run(received.list_received_json(ctx, status="lost"))
    with pytest.raises(InvalidRequest, match="cursor"):
        run(received.list_received_json(ctx, cursor="not-ours"))
    with pytest.raises(InvalidRequest, match="after"):
        received.list_received(ctx, since=date(2026, 3, 2), until=date(2026, 3, 1))


def test_a_burst_of_async_reads_shares_a_bounded_pool(ctx):
    from wpec_invoicing.app.context import ASYNC_POOL_SIZE

    _import(ctx, [3])

    async def burst():
        return await asyncio.gather(*(received.list_received_json(ctx) for _ in range(30)))

    pages = run(burst())
    assert len(pages) == 30 and all(page == pages[0] for page in pages)
    if ctx.reads_async:  # PostgreSQL: never more connections than the pool allows
        assert 1 <= len(ctx._async_pool[1]) <= ASYNC_POOL_SIZE


def test_amounts_are_written_the_same_way_on_both_reads(ctx):
    """The API's read on PostgreSQL takes NUMERIC(18, 2) amounts as the server's text:
    the same JSON as the models' `Money` for every kind of amount."""
    from decimal import Decimal

    from wpec_invoicing.store.models import ReceivedInvoice

    _import(ctx, [3, 4, 5, 6, 7])
    amounts = [Decimal("0"), Decimal("-5.5"), Decimal("1E+12"), Decimal("0.01"), None]
    with ctx.session() as s:
        for invoice, amount in zip(s.query(ReceivedInvoice).order_by(ReceivedInvoice.id),
                                   amounts, strict=True):
            invoice.total = amount
    page = _both(ctx)
    assert [i.total for i in page.items] == [Decimal("0.00"), Decimal("-5.50"),
                                             Decimal("1000000000000.00"), Decimal("0.01"),
                                             None]


def test_pages_on_one_event_loop_stay_right_with_the_kept_cursor(ctx):
    """On one event loop, as in a server, a pooled connection keeps its cursor from one
    request to the next (`AppContext.read_cursor`): statements that follow each other on
    it, the same one again and another, still give the sync read's pages; a read cancelled
    mid-query closes its connection, and the reads after it are right too."""
    _import(ctx, [3, 9, 15, 21])
    first = received.list_received(ctx, limit=3)
    asks = [{}, {"limit": 3}, {"limit": 3, "cursor": first.next_cursor}, {"limit": 3},
            {"since": date(2026, 3, 9)}, {}, {"text": "Fornitore"}, {}]
    expected = [list_adapter(received.ReceivedSummary).dump_json(
        received.list_received(ctx, **ask).items) for ask in asks]

    async def pages() -> list[bytes]:
        got = [(await received.list_received_json(ctx, **ask)).items for ask in asks]
        cancelled = asyncio.ensure_future(received.list_received_json(ctx))
        await asyncio.sleep(0)  # under way: waiting for the database
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        got += [(await received.list_received_json(ctx, **ask)).items for ask in asks]
        if ctx.reads_async:  # kept cursors only for connections still in the pool
            assert set(ctx._async_cursors) <= {id(c) for c in ctx._async_pool[1]}
        return got

    assert run(pages()) == expected * 2


@pytest.mark.parametrize("zone", ["Etc/UTC", "GMT", "UTC", "Europe/Rome", "Asia/Kolkata"])
def test_times_are_written_in_the_servers_zone_on_both_reads(ctx, zone):
    """The API's read sets its session to `UTC` when the server's zone is UTC under another
    name (psycopg's cheaper time zone); the times keep the same JSON as the sync read in
    every zone, UTC or not."""
    if not ctx.reads_async:
        pytest.skip("PostgreSQL's time zone")
    from sqlalchemy import text

    from wpec_invoicing.app.context import AppContext

    _import(ctx, [3, 9])
    with ctx.store.engine.begin() as conn:
        name = conn.execute(text("SELECT current_database()")).scalar_one()
        conn.execute(text(f"ALTER DATABASE \"{name}\" SET TimeZone TO '{zone}'"))
    with AppContext(ctx.config) as fresh:  # new connections: the database's new zone
        page = _both(fresh)
        at = page.items[0].received_at
        assert at.utcoffset() == ZoneInfo(zone).utcoffset(at.replace(tzinfo=None))
        assert len(page.items) == 2
