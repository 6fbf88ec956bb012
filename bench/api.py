"""The REST API under a realistic store, measured as an integrator meets it: HTTP requests
to `wpec serve` (a separate process) over loopback.

A throwaway PostgreSQL is seeded (COPY) with 100,000 received invoices (one line each),
100,000 sent invoices with a 4-entry timeline each, 300,000 messages (each with the mailbox
location it was fetched from) and the events those changes wrote (600,000). Then p50/p95
of every list page the API serves:
  - the first page of received invoices (50 rows), and a page 500 pages deep (cursor),
  - the first page of sent invoices and of messages,
  - events after a cursor (100 events);
asked over one keep-alive connection, each answer's status checked and its JSON decoded,
by two clients in two passes: `http.client` (the figures of sessions 1-4) and a lean
client that parses the answers with httptools' C parser (`LeanClient`: the like-for-like
measure against psycopg's C protocol code). In each pass every page is taken in turn with
two references:
  - the bare SQL of the same page: the statement that fetches the page's rows (the same
    columns, the same LIMIT: one row more than the page, which says whether there is a
    next one; ids checked) on a psycopg connection in autocommit over loopback TCP,
    prepared as the server's is, rows fetched as Python values; ratio = page p50 / bare
    SQL p50 of the same pass (goal <= 3);
  - the floor: `GET /api/v1/health` on the same server (no token, no store): what one HTTP
    exchange with this stack costs before any work; a page can never cost less than the
    floor plus the bare SQL.
Then, apart: a received invoice's detail, a sent invoice's detail (with timeline).

    .venv/bin/python bench/api.py [--received 100000] [--sent 100000] [--messages 300000]
                                  [--requests 300]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests.unit.store.postgres import PostgresCluster  # noqa: E402
from wpec_invoicing.app.models import encode_cursor  # noqa: E402

PAGE = 50
API = "/api/v1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def copy_rows(conn: psycopg.Connection, table: str, columns: list[str], rows) -> None:
    with conn.cursor() as cur, cur.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def seed(url: str, n_received: int, n_sent: int, n_messages: int) -> None:
    from wpec_invoicing.store.db import upgrade

    upgrade(url)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    started = time.perf_counter()
    with psycopg.connect(dsn, autocommit=True) as conn:
        copy_rows(conn, "messages", ["id", "sha256", "size", "status", "kind", "subject",
                                     "sender", "source", "first_seen_at", "sent_at"],
                  ((i, f"{i:064x}", 4000 + i % 900, "processed",
                    ("invoice", "accettazione", "avvenuta-consegna", "posta-certificata")[i % 4],
                    f"Oggetto del messaggio {i}", f"mittente{i % 977}@pec.example.it",
                    "imap", T0 + timedelta(seconds=i), T0 + timedelta(seconds=i))
                   for i in range(1, n_messages + 1)))
        # Every message was fetched by IMAP: where it sits (a list shows the accounts).
        copy_rows(conn, "message_locations", ["id", "message_id", "account", "folder",
                                              "uidvalidity", "uid", "seen_at", "gone"],
                  ((i, i, "main", "INBOX", 1, i, T0 + timedelta(seconds=i), False)
                   for i in range(1, n_messages + 1)))
        reasons = json.dumps([])
        copy_rows(conn, "received_invoices", [
            "id", "file_sha256", "file_name", "size", "source", "readable", "valid",
            "supplier_vat", "supplier_name", "customer_vat", "document_type", "number",
            "invoice_date", "currency", "total", "taxable", "tax", "bodies", "status",
            "reasons", "received_at", "message_id"],
            ((i, f"r{i:063x}", f"IT{i % 5000:011d}_{i % 99999:05d}.xml", 3000, "pec", True,
              True, f"IT{i % 5000:011d}", f"Fornitore {i % 5000} S.r.l.", "IT01234567897",
              "TD01", f"{i}/2026", date(2026, 1, 1) + timedelta(days=i % 365), "EUR",
              "122.00", "100.00", "22.00", 1,
              ("verified", "needs-review", "refused")[i % 3], reasons,
              T0 + timedelta(seconds=i), i if i <= n_messages else None)
             for i in range(1, n_received + 1)))
        copy_rows(conn, "invoice_lines", ["invoice_id", "body_index", "line_number",
                                          "description", "quantity", "unit_price", "total",
                                          "vat_rate"],
                  ((i, 0, 1, "Consulenza", "1.00", "100.00", "100.00", "22.00")
                   for i in range(1, n_received + 1)))
        doc = json.dumps({"customer": "Cliente S.p.A.", "total": "122.00", "date": "2026-01-15"})
        copy_rows(conn, "outbox_items", [
            "id", "account", "kind", "sender", "recipient", "to_sdi", "subject", "message_id",
            "raw", "size", "file_name", "invoice_number", "document", "status", "attempts",
            "provider_state", "sdi_state", "alerted_no_acceptance", "created_at",
            "updated_at", "sent_at"],
            ((i, "main", "invoice", "azienda@pec.example.it", "sdi01@pec.fatturapa.it", True,
              f"IT01234567897_{i:05X}.xml", f"<{i}@wpec.example>", b"raw", 3,
              f"IT01234567897_{i:05X}.xml", f"{i}/2026", doc, "sent", 1, "delivered",
              ("delivered", "rejected", "accepted-by-pa")[i % 3], False,
              T0 + timedelta(seconds=i), T0 + timedelta(seconds=i),
              T0 + timedelta(seconds=i + 1))
             for i in range(1, n_sent + 1)))
        timeline = (("outbox", "queued"), ("outbox", "sent"), ("provider", "accettazione"),
                    ("sdi", "RC"))
        copy_rows(conn, "outbox_events", ["item_id", "at", "source", "event", "detail",
                                          "message_id"],
                  ((i, T0 + timedelta(seconds=i + k), src, ev, ev,
                    (i * 3 + k) % n_messages + 1 if k >= 2 else None)
                   for i in range(1, n_sent + 1) for k, (src, ev) in enumerate(timeline)))

        def events():
            for i in range(1, n_received + 1):
                yield ("invoice.received", T0 + timedelta(seconds=i), "received_invoice",
                       str(i), json.dumps({"status": "verified"}))
                yield ("invoice.verified", T0 + timedelta(seconds=i), "received_invoice",
                       str(i), json.dumps({"status": "verified"}))
            for i in range(1, n_sent + 1):
                for _src, ev in timeline:
                    yield (f"sent_invoice.{ev}", T0 + timedelta(seconds=i), "sent_invoice",
                           str(i), json.dumps({"status": "sent"}))

        copy_rows(conn, "events", ["type", "at", "subject_type", "subject_id", "payload"],
                  events())
        for table in ("messages", "message_locations", "received_invoices",
                      "outbox_items"):
            fix = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: E501, S608 (fixed table names)
            conn.execute(fix)
        conn.execute("ANALYZE")
    print(f"seeded in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def measure_together(calls: dict[str, Callable[[], object]], n: int) -> dict[str, dict]:
    """p50/p95 of each call, the calls taken in turn (a, b, c, a, b, c, ...): a change of
    load on the shared machine then weighs on every figure alike, so the ratios between
    them hold even when the absolute times drift."""
    for _ in range(min(20, n)):  # warm-up: connections, plans, caches
        for fn in calls.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(n):
        for name, fn in calls.items():
            t = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - t) * 1000)
    return {name: {"p50_ms": round(statistics.median(ts), 3), "p95_ms": round(pct(ts, 0.95), 3)}
            for name, ts in times.items()}


class Client:
    """One keep-alive HTTP/1.1 connection (the standard library's `http.client`), a bearer
    token, and the JSON of each answer decoded: the rows as Python values, what the bare
    SQL's `fetchall` gives its caller. Its answer parsing is Python's (`email.parser` for
    the headers): the figures of sessions 1-4 were taken with it."""

    def __init__(self, port: int, token: str | None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str) -> object:
        self.conn.request("GET", path, headers=self.headers)
        response = self.conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
        return json.loads(body)


class LeanClient:
    """The same requests and the same JSON decoding as `Client`, on one keep-alive socket
    whose answers are parsed by httptools (llhttp, C; what uvicorn parses requests with):
    status line, headers, a Content-Length or chunked body (llhttp decodes the chunks),
    however the bytes arrive (a read may hold part of an answer or end mid-header).

    Why: the bare SQL's client is psycopg, whose protocol code is C; `http.client` reads the
    status line and every header line in Python and hands the headers to `email.parser`
    (≈ 60-100 µs per answer measured here, a third of the bare query). A page's time
    measured through it is partly the client's. This one sends what `http.client` sends
    (the same request line, Host, Accept-Encoding and Authorization headers, so the server
    does the same work and writes the same `next` links) and only checks the status and
    decodes the body as JSON, as `Client` does."""

    def __init__(self, port: int, token: str | None) -> None:
        self.address = ("127.0.0.1", port)
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        self.head = (f"Host: 127.0.0.1:{port}\r\nAccept-Encoding: identity\r\n{auth}\r\n"
                     ).encode("latin-1")
        self.sock: socket.socket | None = None
        self.parser: Any = None
        self.parts: list[bytes] = []
        self.complete = self.keep_alive = False
        # One receive buffer for the connection's life: `recv(n)` would allocate n bytes
        # per call (and shrink them), which for a large n costs more than parsing.
        self.buffer = bytearray(256 * 1024)
        self.view = memoryview(self.buffer)

    def connect(self) -> None:
        import httptools

        self.close()
        self.sock = socket.create_connection(self.address, timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as http.client
        self.parser = httptools.HttpResponseParser(self)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # httptools' callbacks (the parser calls them from feed_data)
    def on_message_begin(self) -> None:
        self.parts, self.complete = [], False

    def on_headers_complete(self) -> None:
        # Asked here: once the answer is complete the parser has reset its flags.
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.parts.append(body)

    def on_message_complete(self) -> None:
        self.complete = True

    def get(self, path: str) -> object:
        if self.sock is None:
            self.connect()
        sock, parser, view = self.sock, self.parser, self.view
        sock.sendall(b"GET " + path.encode("ascii") + b" HTTP/1.1\r\n" + self.head)
        self.complete = False
        while not self.complete:
            n = sock.recv_into(view)
            if not n:  # ours always say their length: closed before the end
                self.close()
                raise ConnectionError(f"GET {path}: connection closed mid-answer")
            parser.feed_data(view[:n])
        status = parser.get_status_code()
        body = b"".join(self.parts)
        if not self.keep_alive:  # "Connection: close": a new socket next time
            self.close()
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)


def wait_ready(port: int) -> None:
    for _ in range(300):
        try:
            Client(port, None).get(f"{API}/health")
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    raise SystemExit("wpec serve did not answer within 30 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--received", type=int, default=100_000)
    ap.add_argument("--sent", type=int, default=100_000)
    ap.add_argument("--messages", type=int, default=300_000)
    ap.add_argument("--requests", type=int, default=300)
    args = ap.parse_args()
    if args.received < 500 * PAGE or args.messages < PAGE or args.sent < PAGE:
        ap.error(f"--received must be at least {500 * PAGE} (page 500 is measured), "
                 f"--sent and --messages at least {PAGE}")

    cluster = PostgresCluster()
    server = None
    try:
        url = cluster.new_database()
        seed(url, args.received, args.sent, args.messages)
        work = Path(tempfile.mkdtemp(prefix="wpec-bench-api-"))
        config = work / "wpec.toml"
        config.write_text(f'store_url = "{url}"\ndata_dir = "{work / "data"}"\n')
        env = {**os.environ, "WPEC_CONFIG": str(config)}
        wpec = [sys.executable, "-m", "wpec_invoicing"]
        secret = subprocess.run([*wpec, "token", "create", "--name", "bench", "--role",
                                 "viewer"], env=env, capture_output=True, text=True,
                                check=True).stdout.strip()
        port = free_port()
        server = subprocess.Popen([*wpec, "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_ready(port)
        clients = {"http.client": Client(port, secret), "lean": LeanClient(port, secret)}

        def target(path: str, **params: object) -> str:
            return f"{API}{path}" + (f"?{urlencode(params)}" if params else "")

        deep_after = 499 * PAGE  # the last id of page 499: the cursor of page 500
        deep = encode_cursor({"id": deep_after})
        rnd = random.Random(7)
        received_ids = [rnd.randint(1, args.received) for _ in range(args.requests + 20)]
        sent_ids = [rnd.randint(1, args.sent) for _ in range(args.requests + 20)]
        event_afters = [rnd.randint(0, 2 * args.received) for _ in range(args.requests + 20)]

        def rotating(call_for: Callable[[int], object], values: list[int]):
            it = iter(values * 2)
            return lambda: call_for(next(it))

        # What each client asks, by name; "{}" takes the rotating value.
        pages = {
            "received: first page": target("/invoices/received", limit=PAGE),
            "received: page 500 (cursor)": target("/invoices/received", limit=PAGE,
                                                  cursor=deep),
            "sent: first page": target("/invoices/sent", limit=PAGE),
            "messages: first page": target("/messages", limit=PAGE),
            "events: 100 after a cursor": f"{API}/events?after={{}}&limit=100",
        }
        rotated = {"events: 100 after a cursor": event_afters,
                   "received: detail": received_ids, "sent: detail with timeline": sent_ids}
        floor = {"floor: GET /health": target("/health")}
        details = {"received: detail": f"{API}/invoices/received/{{}}",
                   "sent: detail with timeline": f"{API}/invoices/sent/{{}}"}

        def call(client_name: str, name: str, path: str) -> Callable[[], object]:
            get = clients[client_name].get
            if name in rotated:
                return rotating(lambda v: get(path.format(v)), rotated[name])
            return lambda: get(path)

        def named(client_name: str, name: str) -> str:
            return name if client_name == "http.client" else f"{name} [lean]"

        # The two clients must read the same answers: each target once through both.
        for name, path in {**pages, **floor, **details}.items():
            one = path.format(rotated[name][0]) if name in rotated else path
            assert clients["lean"].get(one) == clients["http.client"].get(one), name

        # The bare SQL of the same pages: for each list, the statement that fetches the
        # page's rows (the same columns, the same LIMIT: one row more than the page, which
        # tells whether there is a next one), on a psycopg connection in autocommit as the
        # server's reads are, over the same loopback socket kind (TCP to 127.0.0.1),
        # prepared after five runs as the server's are, rows fetched as Python values. No
        # HTTP, no token, no models, no JSON. A message's accounts (where it was fetched
        # from) are part of its row: one statement brings them (the fewest round trips any
        # reader could make).
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        received_sql = (
            "SELECT id, status, file_name, source, supplier_vat, supplier_fiscal_code, "
            "supplier_name, document_type, number, invoice_date, currency, total, "
            "received_at FROM received_invoices WHERE id > %s ORDER BY id LIMIT %s")
        sent_sql = (
            "SELECT id, kind, account, recipient, subject, file_name, invoice_number, "
            "status, provider_state, sdi_state, identificativo_sdi, document, created_at, "
            "sent_at FROM outbox_items WHERE kind = %s ORDER BY id LIMIT %s")
        messages_sql = (
            "SELECT m.id, m.status, m.kind, m.subject, m.sender, m.sent_at, "
            "m.first_seen_at, m.source, m.size, m.error, ARRAY(SELECT l.account "
            "FROM message_locations l WHERE l.message_id = m.id GROUP BY l.account "
            'ORDER BY l.account COLLATE "C") FROM messages m ORDER BY m.id LIMIT %s')
        events_sql = ("SELECT id, type, at, subject_type, subject_id, payload FROM events "
                      "WHERE id > %s ORDER BY id LIMIT %s")
        with psycopg.connect(dsn, autocommit=True) as conn:
            def bare(sql: str, *params: object) -> Callable[[], list[tuple]]:
                def call() -> list[tuple]:
                    with conn.cursor() as cur:
                        cur.execute(sql, params)
                        return cur.fetchall()
                return call

            def same_rows(rows: list[tuple], page: dict, key: str = "items") -> None:
                assert [r[0] for r in rows[:len(page[key])]] == [i["id"] for i in page[key]] \
                    and page[key], "the bare SQL must fetch the rows the page shows"

            get = clients["http.client"].get
            same_rows(bare(received_sql, 0, PAGE + 1)(), get(pages["received: first page"]))
            same_rows(bare(received_sql, deep_after, PAGE + 1)(),
                      get(pages["received: page 500 (cursor)"]))
            same_rows(bare(sent_sql, "invoice", PAGE + 1)(), get(pages["sent: first page"]))
            rows, page = bare(messages_sql, PAGE + 1)(), get(pages["messages: first page"])
            same_rows(rows, page)
            assert [r[-1] for r in rows[:PAGE]] == [i["accounts"] for i in page["items"]]
            same_rows(bare(events_sql, event_afters[0], 100)(),
                      get(pages["events: 100 after a cursor"].format(event_afters[0])))

            bares = {
                "received: first page": bare(received_sql, 0, PAGE + 1),
                "received: page 500 (cursor)": bare(received_sql, deep_after, PAGE + 1),
                "sent: first page": bare(sent_sql, "invoice", PAGE + 1),
                "messages: first page": bare(messages_sql, PAGE + 1),
                "events: 100 after a cursor": rotating(
                    lambda a: bare(events_sql, a, 100)(), event_afters),
            }
            bare_names = {
                "received: first page": "bare SQL: received first page",
                "received: page 500 (cursor)": "bare SQL: received page 500",
                "sent: first page": "bare SQL: sent first page",
                "messages: first page": "bare SQL: messages first page",
                "events: 100 after a cursor": "bare SQL: events after a cursor",
            }
            # One pass per client, each the same rotation the bench always timed (a page,
            # the bare SQL of its rows, the next page, ..., the floor): the bare SQL is
            # timed in the same company in both, and each ratio is taken within its pass.
            results: dict[str, dict] = {}
            for client_name in clients:
                together: dict[str, Callable[[], object]] = {}
                for name, path in pages.items():
                    together[named(client_name, name)] = call(client_name, name, path)
                    together[named(client_name, bare_names[name])] = bares[name]
                together[named(client_name, "floor: GET /health")] = call(
                    client_name, "floor", floor["floor: GET /health"])
                results.update(measure_together(together, args.requests))
        results.update(measure_together({
            named(client_name, name): call(client_name, name, path)
            for name, path in details.items() for client_name in clients}, args.requests))

        def p50(name: str) -> float:
            return results[name]["p50_ms"]

        ratios: dict[str, float] = {}
        for client_name in clients:  # each list page against the bare SQL of its rows
            for name in pages:
                ratios[f"{named(client_name, name)} / bare SQL"] = round(
                    p50(named(client_name, name))
                    / p50(named(client_name, bare_names[name])), 2)
        for client_name in clients:
            health = p50(named(client_name, "floor: GET /health"))
            sql = p50(named(client_name, "bare SQL: received page 500"))
            ratios[f"{named(client_name, 'floor (/health)')} / bare SQL received page 500"] = \
                round(health / sql, 2)
            ratios[f"{named(client_name, 'received page 500 minus floor')} / bare SQL"] = \
                round((p50(named(client_name, "received: page 500 (cursor)")) - health) / sql,
                      2)
        out = io.StringIO()
        out.write(f"store: PostgreSQL, {args.received} received, {args.sent} sent (4-entry "
                  f"timelines), {args.messages} messages; {args.requests} requests each, two "
                  "keep-alive HTTP clients (http.client; [lean]: httptools)\n")
        out.write(f"at {datetime.now(UTC):%H:%M} UTC, load average (1, 5, 15 min) at the "
                  "end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()) + "\n")
        for name, r in results.items():
            goal = "" if name.startswith(("bare", "floor")) else (
                "  ok" if r["p95_ms"] <= 50 else "  OVER 50 ms")
            out.write(f"  {name:<39} p50 {r['p50_ms']:7.2f} ms   p95 {r['p95_ms']:7.2f} ms"
                      f"{goal}\n")
        for name, value in ratios.items():
            goal = ("  ok" if value <= 3 else "  over 3x") if "floor" not in name else ""
            out.write(f"  ratio {name:<58} {value:5.2f}x{goal}\n")
        print(out.getvalue(), end="")
        print(json.dumps({"results": results, "ratios": ratios,
                          "load": os.getloadavg()}))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=20)
        cluster.stop()


if __name__ == "__main__":
    main()
