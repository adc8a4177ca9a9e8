"""The dashboard page (`GET /admin`) and its live event stream (`GET /v1/admin/stream`)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import HTMLResponse, StreamingResponse

from leadwire.admin import dashboard
from leadwire.admin.auth import require_admin
from leadwire.admin.routes._common import SECURITY, TAGS, int_param
from leadwire.platform.http import ApiRoute, api_route, app_state

# A comment line keeps idle proxies from closing the stream between snapshots.
KEEPALIVE = b": keepalive\n\n"
# A stream ends after this long and the page reconnects, presenting its token again: a
# revoked token stops receiving within a minute.
MAX_STREAM_S = 60.0


async def page(request: Request) -> HTMLResponse:
    html, nonce = dashboard.render_page()
    return HTMLResponse(html, headers=dashboard.security_headers(nonce))


def _event(name: str, data: object) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream(request: Request) -> StreamingResponse:
    await require_admin(request, "read")
    state = app_state(request)
    interval_ms = int_param(request, "interval_ms", default=1000, low=250, high=30_000)
    limit = int_param(request, "events", default=0, low=0, high=1_000_000)
    cache = dashboard.snapshot_cache(state)

    async def events() -> AsyncIterator[bytes]:
        sent = 0
        ends_at = time.monotonic() + MAX_STREAM_S
        yield b"retry: 2000\n\n"
        while True:
            yield _event("snapshot", await cache.get(state))
            sent += 1
            if (limit and sent >= limit) or time.monotonic() >= ends_at:
                return
            await asyncio.sleep(interval_ms / 1000)
            yield KEEPALIVE

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


routes: list[ApiRoute] = [
    api_route(
        "/admin",
        page,
        "GET",
        summary="The live dashboard page (asks for the admin token once)",
        tags=["admin"],
        responses={200: {"description": "HTML page", "content": {"text/html": {}}}},
    ),
    api_route(
        "/v1/admin/stream",
        stream,
        "GET",
        summary="Server-sent events: a dashboard snapshot every interval",
        description=(
            "Send the token in the `Authorization` header (the dashboard reads this stream "
            "with `fetch`, not `EventSource`, so the token never appears in a URL). Each event "
            "is `event: snapshot` with the JSON snapshot as data; `interval_ms` (250 to "
            "30000, default 1000) sets the pace and `events` stops after that many. A stream "
            "ends after 60 s; clients reconnect, so a revoked token stops within a minute."
        ),
        tags=TAGS,
        responses={200: {"description": "event stream", "content": {"text/event-stream": {}}}},
        security=SECURITY,
        parameters=[
            {"name": "interval_ms", "in": "query", "schema": {"type": "integer"}},
            {"name": "events", "in": "query", "schema": {"type": "integer"}},
        ],
    ),
]
