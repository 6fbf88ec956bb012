"""The sent list: state, kind, date and text filters, and the API's async read gives exactly
the pages of the CLI's sync read, byte for byte as JSON (PostgreSQL: psycopg's async driver,
rows written straight to JSON; SQLite: a thread)."""

from datetime import UTC, date, datetime

import pytest

from tests.unit.app.aio import run
from wpec_invoicing.app import sent
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.app.models import list_adapter
from wpec_invoicing.store.outbox_models import OutboxItem


def _seed(ctx) -> None:
    states = [("sent", "delivered", "delivered"), ("sent", "delivered", "rejected"),
              ("queued", None, None), ("failed", None, None), ("sent", "accepted", None)]
    with ctx.session() as s:
        for i, (status, provider, sdi) in enumerate(states, 1):
            at = datetime(2026, 3, i * 3, 10, tzinfo=UTC)
            s.add(OutboxItem(
                account="main", kind="invoice" if i != 5 else "mail",
                sender="azienda@pec.example.it", recipient=f"dest{i}@pec.example.it",
                to_sdi=i != 5, subject=f"IT01234567897_0000{i}.xml", message_id=f"<{i}@x>",
                raw=b"raw", size=3, file_name=f"IT01234567897_0000{i}.xml",
                invoice_number=f"{i}/2026", document={"total": "1.00"}, status=status,
                attempts=1, provider_state=provider, sdi_state=sdi, created_at=at,
                updated_at=at))


def _both(ctx, **filters):
    page = sent.list_sent(ctx, **filters)
    as_json = run(sent.list_sent_json(ctx, **filters))
    assert as_json.items == list_adapter(sent.SentSummary).dump_json(page.items), filters
    assert as_json.next_cursor == page.next_cursor, filters
    return [item.invoice_number for item in page.items], page.next_cursor


def test_filters_and_cursor_pages_are_the_same_on_both_reads(ctx):
    _seed(ctx)
    assert _both(ctx)[0] == ["1/2026", "2/2026", "3/2026", "4/2026"]
    assert _both(ctx, kind=None)[0][-1] == "5/2026"
    assert _both(ctx, states=["rejected", "failed"])[0] == ["2/2026", "4/2026"]
    assert _both(ctx, states=["delivered"])[0] == ["1/2026", "2/2026"]  # provider or SdI
    assert _both(ctx, since=date(2026, 3, 6), until=date(2026, 3, 9))[0] == ["2/2026",
                                                                            "3/2026"]
    assert _both(ctx, text="dest3@")[0] == ["3/2026"]
    first, cursor = _both(ctx, limit=3)
    rest, end = _both(ctx, limit=3, cursor=cursor)
    assert first + rest == ["1/2026", "2/2026", "3/2026", "4/2026"] and end is None


def test_too_many_states_are_refused(ctx):
    with pytest.raises(InvalidRequest, match="states"):
        sent.list_sent(ctx, states=[f"s{i}" for i in range(sent.MAX_STATES + 1)])
