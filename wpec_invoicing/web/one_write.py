"""uvicorn's httptools protocol, writing each answer's head together with its body.

Why: uvicorn writes the status line and headers when the app sends `http.response.start`,
and the body when it sends `http.response.body`: two socket writes, and with TCP_NODELAY
(which uvicorn sets) two TCP segments. The client then wakes up twice for one answer and
the server makes two system calls; for a list page that is a measurable share of the
whole exchange (issue 12: a page within 3x the bare SQL of its rows). Here the head is
held until the first body message and both go out in one write. Nothing else changes:
the bytes on the wire, their order, keep-alive, flow control and the access log are
uvicorn's own (its code writes them; this only joins two of its writes).

How: each request's cycle gets a thin stand-in for the transport (`_HeadWithBody`) that
keeps the first write (the head) and prepends it to the next one. A HEAD request (whose
answer has no body write) and the upgrade path keep the plain transport; any other use
of the transport (close, is_closing, 100-continue…) first sends what is held, so nothing
is reordered or lost.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _HeadWithBody:
    """A transport that holds the first write (the answer's head) until the next one."""

    __slots__ = ("_held", "_transport")

    def __init__(self, transport: Any) -> None:
        self._transport = transport
        self._held: bytes | None = None  # None: the head has not been written yet

    def write(self, data: bytes) -> None:
        held = self._held
        if held is None:
            self._held = data  # the head: wait for the body
        elif held:
            self._held = b""
            self._transport.write(held + data)
        else:
            self._transport.write(data)

    def _flush(self) -> None:
        if self._held:
            self._transport.write(self._held)
        self._held = b""

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        # Anything else (is_closing, get_extra_info, write_eof…) is the transport's own,
        # after what is held has gone out.
        self._flush()
        return getattr(self._transport, name)


class OneWriteHttpTools(HttpToolsProtocol):
    """`HttpToolsProtocol` whose answers go out in one write (head and first body part)."""

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        # A new cycle (not an upgrade), not yet started: its task runs at the next turn
        # of the event loop, so it sends nothing before its transport is replaced.
        if cycle is not before and cycle is not None and self.scope["method"] != "HEAD":
            cycle.transport = _HeadWithBody(cycle.transport)
