"""The live dashboard: the page itself and the snapshot its event stream sends.

The page (`dashboard.html`, no build step) asks for the admin token once and keeps it in
`sessionStorage` (gone when the tab closes). It reads `GET /v1/admin/stream` with `fetch` and
parses the server-sent events itself, so the token travels in the `Authorization` header like
every other admin call. `EventSource` was not used because it cannot set headers: it would
need the token in the URL, where proxies, access logs and browser history keep it.

One snapshot is computed at most every `SNAPSHOT_TTL_S` per process and shared by every open
dashboard, so many viewers cost no more than one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import time
from functools import cache
from importlib import resources
from typing import Any

from leadwire.admin import controls, stats
from leadwire.platform import deadletters, flags
from leadwire.platform.db import utcnow
from leadwire.platform.state import AppState

SNAPSHOT_TTL_S = 0.5
_CACHE_KEY = "admin.dashboard_snapshot"


@cache
def _template() -> str:
    return resources.files("leadwire.admin").joinpath("dashboard.html").read_text("utf-8")


def render_page() -> tuple[str, str]:
    """The page with a fresh CSP nonce; returns (html, nonce)."""
    nonce = secrets.token_urlsafe(16)
    return _template().replace("{{nonce}}", nonce), nonce


def security_headers(nonce: str) -> dict[str, str]:
    return {
        "Content-Security-Policy": (
            "default-src 'none'; "
            f"script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self' data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ),
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


async def snapshot(state: AppState) -> dict[str, Any]:
    """Everything the dashboard shows, in one JSON object."""
    now = utcnow()
    hour = stats.make_query(window=dt.timedelta(hours=1), window_text="1h", tenant=None, now=now)
    quarter = stats.make_query(
        window=dt.timedelta(minutes=15), window_text="15m", tenant=None, now=now
    )
    leads = await stats.lead_stats(state, quarter)
    queues = await stats.queue_status(state, hour)
    calls = await stats.call_stats(state, hour)
    errors = await stats.error_stats(state, hour)
    async with state.sessions() as session:
        letters, _ = await deadletters.list_letters(session, status="open", limit=10)
        current = await flags.read_flags(session)
        tenant_pauses = await controls.paused_tenants(session)
    series = calls["series"]
    return {
        "at": now.isoformat(),
        "intake": {
            "received_15m": leads["received"],
            "by_source": leads["by_source"],
            "per_minute": leads["intake"],
        },
        "queues": queues["queues"],
        "paused_queues": queues["paused"],
        "active_calls": calls["active_calls"],
        "dials": {
            "last_hour": calls["dials"]["total"],
            "last_minute": series[-1]["dials"] if series else 0,
            "by_priority": calls["dials"]["by_priority"],
        },
        "speed_to_lead": {
            **calls["speed_to_lead"],
            "series": [
                {"at": p["at"], "to_dial": p["to_dial"], "to_answer": p["to_answer"]}
                for p in series
            ],
        },
        "errors": {"by_class": errors["by_class"], "series": errors["series"]},
        "dead_letters": {
            "open": errors["dead_letters"]["open"],
            "latest": [deadletters.view(d) for d in letters],
        },
        "emergency": controls.emergency_view(current.emergency),
        "tenant_pauses": tenant_pauses,
    }


class SnapshotCache:
    """One snapshot per `SNAPSHOT_TTL_S`, shared by every stream of this process."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._at = 0.0
        self._value: dict[str, Any] | None = None

    async def get(self, state: AppState) -> dict[str, Any]:
        async with self._lock:
            if self._value is None or time.monotonic() - self._at >= SNAPSHOT_TTL_S:
                self._value = await snapshot(state)
                self._at = time.monotonic()
            return self._value


def snapshot_cache(state: AppState) -> SnapshotCache:
    cached = state.services.get(_CACHE_KEY)
    if not isinstance(cached, SnapshotCache):
        cached = state.services[_CACHE_KEY] = SnapshotCache()
    return cached
