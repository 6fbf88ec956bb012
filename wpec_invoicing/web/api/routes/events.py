"""`/events`: follow what happens (long poll with `wait`, or Server-Sent Events)."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from wpec_invoicing.app import events
from wpec_invoicing.web.api.auth import needs

router = APIRouter(prefix="/events", tags=["events"])
Types = Query(None, description="event types; a value ending in '.' is a prefix "
              "(`sent_invoice.`)")


@router.get("", response_model=events.EventPage, **needs("viewer"))
async def list_events(request: Request, after: int = Query(0, ge=0, le=2**62),
                      wait: float = Query(0, ge=0, le=events.MAX_WAIT_SECONDS,
                                          description="seconds to wait for a first event"),
                      limit: int = Query(100, ge=1, le=500),
                      type: list[str] | None = Types):
    """Events with id > `after`, oldest first; ask again with `after=last_id`."""
    ctx = request.app.state.ctx
    page = await events.list_events_json(ctx, after=after, limit=limit, types=type)
    if not page.count and wait:
        deadline = asyncio.get_running_loop().time() + wait
        while not page.count and asyncio.get_running_loop().time() < deadline:
            if await request.is_disconnected():
                break
            await asyncio.sleep(events.POLL_SECONDS)
            page = await events.list_events_json(ctx, after=after, limit=limit, types=type)
    # Serialised once by the app (`response_model` documents it).
    return Response(page.body, media_type="application/json")


@router.get("/stream", response_class=StreamingResponse, **needs("viewer"))
async def stream(request: Request, after: int = Query(0, ge=0, le=2**62),
                 type: list[str] | None = Types):
    """Server-Sent Events: each event as `id:` / `event:` / `data:`; reconnecting with
    `Last-Event-ID` resumes after it."""
    ctx = request.app.state.ctx
    last = request.headers.get("last-event-id")
    start = min(int(last), 2**62) if last and last.isdigit() else after

    async def gen():
        position = start
        yield "retry: 2000\n\n"
        idle = 0.0
        while not await request.is_disconnected():
            page = await events.list_events_async(ctx, after=position, limit=500,
                                                  types=type)
            for e in page.items:
                yield (f"id: {e.id}\nevent: {e.type}\n"
                       f"data: {json.dumps(e.model_dump(mode='json'))}\n\n")
            position = page.last_id
            if page.items:
                idle = 0.0
                continue
            await asyncio.sleep(events.POLL_SECONDS * 2)
            idle += events.POLL_SECONDS * 2
            if idle >= 15:  # a comment keeps proxies from closing an idle stream
                idle = 0.0
                yield ": keep-alive\n\n"

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store"})
