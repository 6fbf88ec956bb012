"""`serve`: run the REST API with uvicorn, safely by default.

Loopback (127.0.0.1) unless told otherwise; a non-loopback address needs TLS (certfile and
keyfile) or an explicit `behind_proxy` (a TLS-terminating proxy in front, which then also
tells us the client's address). uvicorn's access log is written off the request path (see
`access_log_off_the_request_path`).
"""

from __future__ import annotations

import gc
import ipaddress
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wpec_invoicing.errors import ConfigError


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 8040
    certfile: Path | None = None
    keyfile: Path | None = None
    behind_proxy: bool = False
    body_limit: int = 30 * 1024 * 1024


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check(options: ServeOptions) -> None:
    """Refuse an unsafe or unusable setup with one clear line (ConfigError)."""
    if (options.certfile is None) != (options.keyfile is None):
        raise ConfigError("TLS needs both --certfile and --keyfile")
    for path in (options.certfile, options.keyfile):
        if path is not None and not path.is_file():
            raise ConfigError(f"{path}: no such file")
    if not is_loopback(options.host) and options.certfile is None and not options.behind_proxy:
        raise ConfigError(f"refusing to serve on {options.host} without TLS: give --certfile "
                          "and --keyfile, or --behind-proxy when a TLS proxy is in front "
                          "(or keep the default 127.0.0.1)")


def serve(ctx, options: ServeOptions) -> None:  # ctx: app.context.AppContext
    """Run until interrupted."""
    import uvicorn

    from wpec_invoicing.web.api import create_app

    check(options)
    app = create_app(ctx, body_limit=options.body_limit)
    from wpec_invoicing.web.console import mount_console  # the operators' console at /

    mount_console(app, ctx)
    config = uvicorn.Config(
        app, host=options.host, port=options.port, log_level="info", access_log=True,
        ssl_certfile=str(options.certfile) if options.certfile else None,
        ssl_keyfile=str(options.keyfile) if options.keyfile else None,
        proxy_headers=options.behind_proxy,
        forwarded_allow_ips="*" if options.behind_proxy else None,
        server_header=False, timeout_graceful_shutdown=5,
    )
    # Everything made so far (modules, the app, its routes and schemas) lives as long as
    # the server: out of the collector's sight, a full collection no longer walks it
    # (in-process, a list page's mean time 520 -> 475 µs; its median is the same).
    gc.collect()
    gc.freeze()
    # uvicorn set up its loggers just now (Config); the protocol is chosen at start.
    with access_log_off_the_request_path() as access:
        config.http = http_protocol(access)
        uvicorn.Server(config).run()


def http_protocol(access: AccessLog | None) -> type | str:
    """uvicorn's httptools protocol with its access lines handed to `access` (see
    `AccessLog`); without httptools (or without an access log), uvicorn's own choice, which
    logs through the logger (whose records reach `access` all the same).

    Not kept: holding each answer's head to write it with the body (one socket write
    instead of uvicorn's two): measured with bench/api_http.py, within noise (0.95-1.04
    of uvicorn's exchange)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # no httptools
        return "auto"
    if access is None:
        return "auto"

    class Protocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if self.access_log:  # what each request's cycle calls `.info` on
                self.access_logger = access

    return Protocol


class AccessLog(logging.Handler):
    """uvicorn's access lines, kept for the writer thread of
    `access_log_off_the_request_path`.

    Two doors, one queue (so the lines keep their order): as the access logger's handler
    it keeps each LogRecord; as the protocol's access logger (`info(msg, *args)`, what
    uvicorn's request cycle calls) it keeps only the time and the arguments, and the
    writer builds the record. Why the second: creating a LogRecord on the request path
    (thread and process names, the caller's frame, …) costs ≈ 10-30 µs per request
    measured (2-3 % of a list page). Either way an append to a deque: atomic, no lock, no
    wake-up. The arguments (client, method, path, version, status) are strings and
    numbers, safe to hand to another thread."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__()
        self.logger = logger
        self.kept: deque[Any] = deque()

    def handle(self, record: logging.LogRecord) -> bool:  # no filters, no handler lock
        self.kept.append(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self.kept.append(record)

    def info(self, msg: str, *args: Any) -> None:
        if self.logger.isEnabledFor(logging.INFO):
            self.kept.append((time.time(), msg, args))

    def hasHandlers(self) -> bool:  # the Logger method uvicorn asks
        return True

    def records(self) -> Iterator[logging.LogRecord]:
        """What was kept so far, oldest first, as records."""
        kept = self.kept
        while kept:
            item = kept.popleft()
            if isinstance(item, logging.LogRecord):
                yield item
                continue
            at, msg, args = item
            record = self.logger.makeRecord(self.logger.name, logging.INFO, "", 0, msg, args,
                                            None)
            record.created, record.msecs = at, (at - int(at)) * 1000
            yield record


# How often the writer thread writes what was collected: lines reach the log at most this
# late, and a busy server pays for one wake-up per interval, not per request.
WRITE_EVERY_SECONDS = 0.1


@contextmanager
def access_log_off_the_request_path() -> Iterator[AccessLog | None]:
    """uvicorn's access log lines, unchanged, formatted and written by a thread of their own,
    in batches; yields the `AccessLog` that keeps them (None: no access log configured).

    Why: uvicorn formats and writes (and flushes) the line in the middle of sending each
    answer, before the first byte goes out: ≈ 50 µs per request measured, as much as a
    sixth of a list page's whole query. Handing each record to a thread through a queue
    (what `QueueListener` does) moved that off the request but still woke the thread for
    every request, which then took the GIL from the event loop (py-spy: ≈ 20 % of the
    server's samples under a stream of list pages in the queue's put and get). The lines
    are now kept (`AccessLog`) and written every `WRITE_EVERY_SECONDS`. The lines are the
    same and in the same order; those still kept are written when the server stops (a
    SIGKILL can lose the last interval's). Errors are not affected."""
    access = logging.getLogger("uvicorn.access")
    handlers = list(access.handlers)
    if not handlers:
        yield None
        return
    front = AccessLog(access)
    stop = threading.Event()

    def write() -> None:
        for record in front.records():
            for handler in handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)

    def writer() -> None:
        while not stop.wait(WRITE_EVERY_SECONDS):
            write()

    thread = threading.Thread(target=writer, name="access-log", daemon=True)
    for handler in handlers:
        access.removeHandler(handler)
    access.addHandler(front)
    thread.start()
    try:
        yield front
    finally:
        access.removeHandler(front)
        stop.set()
        thread.join()
        write()  # what is still kept
        for handler in handlers:
            access.addHandler(handler)
