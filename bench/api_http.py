"""The HTTP layer of `wpec serve` alone, A/B in one run: what one exchange costs with each
choice `web/server.py` makes, every variant a server process of its own, asked in turn
(a, b, c, a, b, c, ...) by one keep-alive `http.client` connection each, answers' JSON
decoded (as bench/api.py's client does).

  - bare uvicorn: a tiny ASGI app answering a 50-row JSON page (≈ 4 KB) with uvicorn's
    httptools protocol: one HTTP exchange with nothing else (for reference; at commit
    8013bc8 this part also measured a protocol writing head and body in one socket
    write, not kept: within noise);
  - access log: the real app (`create_app` + the console, SQLite, no store work) answering
    `GET /api/v1/health`, with the access log's records made on the request path and
    written by the writer thread (`http_protocol(None)`), with only the arguments kept on
    the request path (`http_protocol(access)`, what `wpec serve` does), and without an
    access log; ratios against "no access log".

    .venv/bin/python bench/api_http.py [--requests 4000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = r'''
import sys, tempfile
from pathlib import Path
sys.path.insert(0, sys.argv[3])
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from wpec_invoicing.web.server import access_log_off_the_request_path, http_protocol

kind, port = sys.argv[1], int(sys.argv[2])
if kind == "bare uvicorn":
    page = b'{"items":[' + b",".join(
        b'{"id":%d,"supplier":"Fornitore S.r.l.","total":"122.00",'
        b'"at":"2026-01-01T00:00:00Z"}' % i for i in range(50)) + b"]}"

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(page)).encode())]})
        await send({"type": "http.response.body", "body": page})
else:
    from wpec_invoicing.app.context import AppContext
    from wpec_invoicing.config import Config
    from wpec_invoicing.web.api import create_app
    from wpec_invoicing.web.console import mount_console

    ctx = AppContext(Config(data_dir=Path(tempfile.mkdtemp()) / "data"))
    app = create_app(ctx)
    mount_console(app, ctx)
config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info",
                        access_log=kind != "no access log", server_header=False,
                        lifespan="off")
with access_log_off_the_request_path() as access:
    config.http = {"bare uvicorn": HttpToolsProtocol,
                   "records per request": HttpToolsProtocol}.get(kind, http_protocol(access))
    uvicorn.Server(config).run()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure(kinds: list[str], path: str, n: int) -> dict[str, float]:
    """p50 (µs) of each variant's exchange, the variants asked in turn."""
    servers, clients = [], {}
    try:
        for kind in kinds:
            port = free_port()
            servers.append(subprocess.Popen(
                [sys.executable, "-c", SERVER, kind, str(port), str(ROOT)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            clients[kind] = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        deadline = time.monotonic() + 60
        for conn in clients.values():
            while True:
                try:
                    conn.request("GET", path)
                    conn.getresponse().read()
                    break
                except OSError:
                    conn.close()
                    if time.monotonic() > deadline:
                        raise SystemExit("a server did not start within 60 s") from None
                    time.sleep(0.2)

        def get(conn: http.client.HTTPConnection) -> object:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status}")
            return json.loads(body)

        for _ in range(300):  # warm-up
            for conn in clients.values():
                get(conn)
        times: dict[str, list[float]] = {kind: [] for kind in kinds}
        for _ in range(n):
            for kind, conn in clients.items():
                started = time.perf_counter()
                get(conn)
                times[kind].append((time.perf_counter() - started) * 1e6)
        return {kind: statistics.median(ts) for kind, ts in times.items()}
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=20)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=4000)
    args = ap.parse_args()
    import os

    bare = measure(["bare uvicorn"], "/page", args.requests)
    log = measure(["records per request", "arguments kept", "no access log"],
                  "/api/v1/health", args.requests)
    print(f"one HTTP exchange, p50 of {args.requests} each (µs); load average "
          + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    print(f"  50-row page, bare uvicorn, tiny app         {bare['bare uvicorn']:7.1f}")
    for kind, p50 in log.items():
        print(f"  /health, access log: {kind:<20} {p50:7.1f}  "
              f"({p50 / log['no access log']:.3f} of no access log)")
    print(json.dumps({"bare_uvicorn": bare, "access_log": log}))


if __name__ == "__main__":
    main()
