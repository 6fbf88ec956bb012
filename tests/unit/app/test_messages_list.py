"""The message list: status, kind, account, folder, sender, subject and date filters, each
message's accounts, and the API's async read gives exactly the pages of the CLI's and the
console's sync read, byte for byte as JSON (PostgreSQL: one statement with the accounts as
an array, rows written straight to JSON; SQLite: the sync read on a thread)."""

from datetime import UTC, date, datetime

import pytest

from tests.unit.app.aio import run
from wpec_invoicing.app import messages
from wpec_invoicing.app.errors import InvalidRequest
from wpec_invoicing.app.models import list_adapter
from wpec_invoicing.store.models import Message, MessageLocation

# Accounts whose code point order differs from a locale's (capitals, accents): the list
# shows them as Python sorts them.
WHERE = {1: [("main", "INBOX"), ("main", "Archivio"), ("Zeta", "INBOX")],
         2: [("ärchiv", "INBOX"), ("alpha", "INBOX"), ("b", "Sent")],
         3: [], 4: [("main", "INBOX")], 5: [("alpha", "Spam")], 6: []}


def _seed(ctx) -> None:
    with ctx.session() as s:
        for i in range(1, 7):
            msg = Message(
                sha256=f"{i:064x}", size=1000 + i, status=("processed", "error", "archived")[i % 3],
                kind=("invoice", "accettazione")[i % 2], subject=f"Oggetto {i} 100%_pieno",
                sender=f"mittente{i}@pec.example.it" if i != 6 else None,
                sent_at=datetime(2026, 3, i, 9, tzinfo=UTC) if i != 5 else None,
                source="imap" if WHERE[i] else "import",
                first_seen_at=datetime(2026, 3, i, 10, tzinfo=UTC),
                error="broken MIME" if i % 3 == 2 else None)
            s.add(msg)
            s.flush()
            for uid, (account, folder) in enumerate(WHERE[i], 1):
                s.add(MessageLocation(message_id=msg.id, account=account, folder=folder,
                                      uidvalidity=1, uid=i * 10 + uid,
                                      seen_at=datetime(2026, 3, i, 10, tzinfo=UTC),
                                      gone=uid == 2))


def _both(ctx, **filters):
    page = messages.list_messages(ctx, **filters)
    as_json = run(messages.list_messages_json(ctx, **filters))
    assert as_json.items == list_adapter(messages.MessageSummary).dump_json(page.items), filters
    assert as_json.next_cursor == page.next_cursor, filters
    return [m.id for m in page.items], page.next_cursor


def test_filters_accounts_and_cursor_pages_are_the_same_on_both_reads(ctx):
    _seed(ctx)
    ids, end = _both(ctx)
    assert len(ids) == 6 and end is None
    page = messages.list_messages(ctx)
    assert [m.accounts for m in page.items] == [["Zeta", "main"], ["alpha", "b", "ärchiv"],
                                                [], ["main"], ["alpha"], []]
    first = ids[0]
    assert _both(ctx, status="error")[0] == [first, first + 3]
    assert _both(ctx, kind="invoice")[0] == [first + 1, first + 3, first + 5]
    assert _both(ctx, account="main")[0] == [first, first + 3]
    assert _both(ctx, account="main", folder="Archivio")[0] == [first]
    assert _both(ctx, folder="INBOX")[0] == [first, first + 1, first + 3]
    assert _both(ctx, sender="MITTENTE2@")[0] == [first + 1]  # any case
    assert _both(ctx, subject=" 100%_ ")[0] == ids[:6]
    assert _both(ctx, subject="oggetto 5")[0] == [first + 4]
    assert _both(ctx, since=date(2026, 3, 2), until=date(2026, 3, 3))[0] == [first + 1,
                                                                            first + 2]
    assert _both(ctx, since=datetime(2026, 3, 4, 10, tzinfo=UTC))[0] == ids[3:]
    assert _both(ctx, kind="nothing")[0] == []
    one, cursor = _both(ctx, limit=4)
    rest, end = _both(ctx, limit=4, cursor=cursor)
    assert one + rest == ids and end is None


def test_bad_filters_are_refused_on_both_reads(ctx):
    for filters in ({"status": "lost"}, {"cursor": "not-ours"}, {"limit": 0}):
        with pytest.raises(InvalidRequest):
            messages.list_messages(ctx, **filters)
        with pytest.raises(InvalidRequest):
            run(messages.list_messages_json(ctx, **filters))
