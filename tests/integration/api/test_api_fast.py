"""The list pages' direct path (`web/api/fast.py`) answers exactly as FastAPI's own request
handling does: the same app served twice on the same store, with and without it, asked the
same requests (pages, filters, cursors, bad parameters, bad or missing tokens), gives the
same status, headers and bytes; and the direct path really answered the valid ones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from tests.integration.api.conftest import company_config, running
from wpec_invoicing.app import received, tokens
from wpec_invoicing.app.context import AppContext
from wpec_invoicing.fatturapa import invoice_file_name, write_invoice
from wpec_invoicing.fatturapa.samples import sample_invoice
from wpec_invoicing.web.api import create_app
from wpec_invoicing.web.api.common import next_link
from wpec_invoicing.web.api.fast import FastRoutes


def _seed(ctx: AppContext) -> None:
    from wpec_invoicing.store.models import Message, MessageLocation
    from wpec_invoicing.store.outbox_models import OutboxItem

    files = [(invoice_file_name("IT", "01234567890", f"{i:05d}"), write_invoice(sample_invoice(
        progressivo=f"{i:05d}", lines=1, on=date(2026, 3, day))))
        for i, day in enumerate([3, 9, 15, 21], 1)]
    assert received.import_files(ctx, files).imported == 4
    states = [("sent", "delivered", "delivered"), ("sent", "delivered", "rejected"),
              ("queued", None, None), ("sent", "accepted", None)]
    with ctx.session() as s:
        for i, (status, provider, sdi) in enumerate(states, 1):
            at = datetime(2026, 3, i * 3, 10, tzinfo=UTC)
            s.add(OutboxItem(
                account="main", kind="invoice" if i != 4 else "mail",
                sender="azienda@pec.example.it", recipient=f"dest{i}@pec.example.it",
                to_sdi=i != 4, subject=f"IT01234567897_0000{i}.xml", message_id=f"<{i}@x>",
                raw=b"raw", size=3, file_name=f"IT01234567897_0000{i}.xml",
                invoice_number=f"{i}/2026", document={"total": "1.00", "rate": 0.22},
                status=status, attempts=1, provider_state=provider, sdi_state=sdi,
                created_at=at, updated_at=at))
        for i, where in enumerate([[("main", "INBOX"), ("Zeta", "INBOX")], [],
                                   [("main", "Archivio")]], 1):
            msg = Message(sha256=f"{i:064x}", size=100 * i, status=("processed", "error")[i % 2],
                          kind="posta-certificata", subject=f"Avviso {i} 50%_",
                          sender=f"banca{i}@pec.example.it", source="imap",
                          first_seen_at=datetime(2026, 3, i * 3, 11, tzinfo=UTC))
            s.add(msg)
            s.flush()
            for uid, (account, folder) in enumerate(where, 1):
                s.add(MessageLocation(message_id=msg.id, account=account, folder=folder,
                                      uidvalidity=7, uid=uid + 10 * i,
                                      seen_at=datetime(2026, 3, 1, tzinfo=UTC)))


@pytest.fixture
def both(tmp_path: Path, db_url: str, monkeypatch) -> Iterator[tuple[str, str, str, FastRoutes]]:
    """The API with the direct path and the same API without it, on one store: their URLs,
    a viewer's and an admin's token, and the direct path's middleware (to count what it
    answered)."""
    # A token checked once stays remembered for the whole test, however slow the machine:
    # every valid request below must be one the direct path can take.
    monkeypatch.setattr(tokens, "CACHE_SECONDS", 3600.0)
    with AppContext(company_config(tmp_path, db_url)) as ctx:
        _seed(ctx)
        viewer = tokens.create_token(ctx, "viewer", "viewer").secret
        admin = tokens.create_token(ctx, "admin", "admin").secret
        fast_app = create_app(ctx)
        with running(fast_app) as fast_url, running(create_app(ctx, fast_paths=False)) as url:
            assert httpx.get(fast_url + "/api/v1/health", timeout=60).status_code == 200
            layer = fast_app.middleware_stack  # built by the first request
            while not isinstance(layer, FastRoutes):
                layer = layer.app
            yield fast_url, url, (viewer, admin), layer


RECEIVED, SENT, EVENTS = "/invoices/received", "/invoices/sent", "/events"
MESSAGES = "/messages"

# Requests the direct path answers: (path, query).
VALID = [
    (RECEIVED, ""), (RECEIVED, "limit=2"), (RECEIVED, "status=verified"),
    (RECEIVED, "status=needs-review&limit=1"), (RECEIVED, "supplier=IT01234567890"),
    (RECEIVED, "supplier=01234567890"), (RECEIVED, "since=2026-03-09&until=2026-03-15"),
    (RECEIVED, "q=%25_%C3%A8"), (RECEIVED, "number=1"), (RECEIVED, "limit=2&limit=3"),
    (RECEIVED, "cursor=&supplier="), (RECEIVED, "unknown=1&limit=1"), (RECEIVED, "limit=+2"),
    (SENT, ""), (SENT, "state=delivered&state=rejected"), (SENT, "kind="), (SENT, "kind=mail"),
    (SENT, "limit=1"), (SENT, "since=2026-03-06&q=dest"), (SENT, "state="),
    (EVENTS, ""), (EVENTS, "after=2&limit=3"), (EVENTS, "type=invoice."),
    (EVENTS, "type=invoice.received&type=sent_invoice.&limit=2"), (EVENTS, "wait=0"),
    (MESSAGES, ""), (MESSAGES, "limit=1"), (MESSAGES, "status=error"),
    (MESSAGES, "kind=posta-certificata&account=main"), (MESSAGES, "folder=Archivio"),
    (MESSAGES, "sender=BANCA3&subject=50%25_"), (MESSAGES, "since=2026-03-04&until=2026-03-06"),
    (MESSAGES, "account=nobody"), (MESSAGES, "kind=&account="),
]
# Requests FastAPI answers (the direct path hands them on): bad parameters, app errors.
INVALID = [
    (RECEIVED, "limit=0"), (RECEIVED, "limit=501"), (RECEIVED, "limit=x"), (RECEIVED, "limit="),
    (RECEIVED, "status=lost"), (RECEIVED, "since=yesterday"),
    (RECEIVED, "since=2026-03-15&until=2026-03-01"), (RECEIVED, "cursor=not-ours"),
    (RECEIVED, "q=" + "x" * 201), (SENT, "&".join(f"state=s{i}" for i in range(60))),
    (EVENTS, "after=-1"), (EVENTS, "wait=61"), (EVENTS, "limit=501"),
    (MESSAGES, "status=lost"), (MESSAGES, "since=2026-13-01"), (MESSAGES, "cursor=bad!"),
    (MESSAGES, "sender=" + "x" * 321), (MESSAGES, "limit=0"), (MESSAGES, "status="),
]


def _answer(url: str, path: str, query: str, headers: dict[str, str], **kwargs):
    """Status, headers and body; the server's own address (in `next` links) written as
    SERVER, since the two servers listen on different ports."""
    response = httpx.request(kwargs.pop("method", "GET"), f"{url}/api/v1{path}?{query}",
                             headers=headers, timeout=60, **kwargs)
    assert int(response.headers["content-length"]) == len(response.content)
    kept = sorted((k, v) for k, v in response.headers.items()
                  if k not in ("date", "content-length"))
    return response.status_code, kept, response.content.replace(url.encode(), b"SERVER")


def test_the_direct_path_answers_as_fastapi_does(both):
    fast_url, plain_url, (viewer, admin), fast = both
    bearer = {"Authorization": f"Bearer {viewer}"}
    valid = list(VALID)
    # Pages after the first, with the cursors the server gave out.
    for path in (RECEIVED, SENT, MESSAGES):
        _, _, body = _answer(plain_url, path, "limit=2", bearer)
        cursor = httpx.Response(200, content=body).json()["next_cursor"]
        assert cursor
        valid.append((path, f"limit=2&cursor={cursor}"))
    served = fast.served
    for path, query in valid:
        expected = _answer(plain_url, path, query, bearer)
        assert expected[0] == 200, (path, query, expected)
        assert _answer(fast_url, path, query, bearer) == expected, (path, query)
    assert fast.served - served == len(valid)  # each one answered by the direct path

    served = fast.served
    for path, query in INVALID:
        expected = _answer(plain_url, path, query, bearer)
        assert expected[0] == 422, (path, query, expected)
        assert _answer(fast_url, path, query, bearer) == expected, (path, query)
    # The scheme is case-insensitive; a body on a GET goes FastAPI's way (body limit).
    lower = {"Authorization": f"bearer {admin}"}
    _answer(plain_url, RECEIVED, "", lower)  # the admin's token checked once, remembered
    assert _answer(fast_url, RECEIVED, "", lower) == _answer(plain_url, RECEIVED, "", lower)
    with_body = {**bearer, "Content-Type": "text/plain"}
    assert _answer(fast_url, RECEIVED, "", with_body, content=b"hello") == \
        _answer(plain_url, RECEIVED, "", with_body, content=b"hello")
    assert fast.served - served == 1  # only the lower-case scheme

    served = fast.served
    for headers in ({}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer wpec_not-a-token"}):
        expected = _answer(plain_url, RECEIVED, "", headers)
        assert expected[0] == 401, (headers, expected)
        assert _answer(fast_url, RECEIVED, "", headers) == expected, headers
    assert fast.served == served


def test_a_revoked_token_is_refused_at_once_on_the_direct_path(company_api):
    """Revoking through this process forgets the remembered token: the next list page is
    401, not served from the direct path's memory."""
    viewer = company_api.client("viewer")
    assert viewer.get(RECEIVED).status_code == 200
    assert viewer.get(RECEIVED).status_code == 200  # remembered: the direct path answers
    admin = company_api.client("admin")
    assert admin.post("/tokens/test-viewer/revoke").status_code == 200
    assert viewer.get(RECEIVED).status_code == 401


query_parts = st.sampled_from(["limit=2", "status=verified", "cursor=eyJpZCI6Mn0", "cursor=",
                               "q=a+b", "q=%25", "q=%C3%A8", "x", "a=1=2", "", "cursorx=1",
                               "t~._-=v~._-", "q=caf\xe9"])
hosts = st.sampled_from([None, b"127.0.0.1:8040", b"example.it", b"[::1]:80", b"EXAMPLE.it:443",
                         b"a b", b"x/y?z#w", b"h:notaport", b"user@h", b""])


@settings(max_examples=400, deadline=None)
@given(st.lists(query_parts, max_size=5), hosts,
       st.sampled_from(["http", "https"]), st.sampled_from([("127.0.0.1", 8040),
                                                           ("::1", 443), None]),
       st.sampled_from(["eyJpZCI6NTB9", "abc-_9", "a+b", "é"]))
def test_the_next_link_is_starlettes(parts, host, scheme, server, cursor):
    """`next_link` writes what `request.url.include_query_params(cursor=...)` writes."""
    headers = [(b"host", host)] if host is not None else []
    scope = {"type": "http", "scheme": scheme, "server": server, "path": RECEIVED,
             "root_path": "", "query_string": "&".join(parts).encode(), "headers": headers}
    request = Request(scope)
    assert next_link(request, cursor) == str(
        Request(scope).url.include_query_params(cursor=cursor))
