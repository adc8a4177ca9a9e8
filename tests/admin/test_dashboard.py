"""The dashboard page and its event stream (the browser test drives the page itself)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from leadwire.platform.state import AppState
from tests.helpers import admin_headers


def _events(body: str) -> list[tuple[str, Any]]:
    events = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        name = next((ln[6:].strip() for ln in lines if ln.startswith("event:")), None)
        data = "\n".join(ln[5:].lstrip() for ln in lines if ln.startswith("data:"))
        if name:
            events.append((name, json.loads(data)))
    return events


async def test_the_page_is_served_without_a_build_step_under_a_strict_policy(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/admin")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce is not None
    html = response.text
    assert f'<script nonce="{nonce.group(1)}">' in html
    assert f'<style nonce="{nonce.group(1)}">' in html
    assert "{{nonce}}" not in html
    assert "frame-ancestors 'none'" in policy
    assert response.headers["cache-control"] == "no-store"
    assert "sessionStorage" in html
    assert "EventSource" not in html  # the stream is read with fetch, token in the header
    other = (await client.get("/admin")).headers["content-security-policy"]
    assert other != policy  # a fresh nonce each time


async def test_the_stream_needs_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/admin/stream?events=1")
    assert response.status_code == 401


async def test_the_stream_sends_snapshots_of_everything_the_page_shows(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    await client.put("/v1/admin/emergency", json={"reason": "storm"}, headers=admin_headers())
    response = await client.get(
        "/v1/admin/stream?events=2&interval_ms=250", headers=admin_headers()
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.text)
    assert [name for name, _ in events] == ["snapshot", "snapshot"]
    snapshot = events[-1][1]
    assert set(snapshot) == {
        "at",
        "intake",
        "queues",
        "paused_queues",
        "active_calls",
        "dials",
        "speed_to_lead",
        "errors",
        "dead_letters",
        "emergency",
        "tenant_pauses",
    }
    assert (snapshot["emergency"]["active"], snapshot["emergency"]["reason"]) == (True, "storm")
    assert set(snapshot["queues"]) == {
        "intake_urgent",
        "intake_fetch",
        "intake",
        "emergency",
        "high",
        "medium",
        "low",
        "maintenance",
    }
    assert len(snapshot["intake"]["per_minute"]) == 15
    assert len(snapshot["speed_to_lead"]["series"]) == 60
    assert snapshot["dials"] == {"last_hour": 0, "last_minute": 0, "by_priority": {}}
    assert snapshot["dead_letters"] == {"open": 0, "latest": []}


async def test_the_stream_refuses_bad_pacing(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/admin/stream?interval_ms=10", headers=admin_headers())
    assert response.status_code == 422


async def test_streams_end_after_their_lifetime_so_clients_reauthenticate(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leadwire.admin.routes import dashboard as routes

    monkeypatch.setattr(routes, "MAX_STREAM_S", 0.3)
    response = await client.get("/v1/admin/stream?interval_ms=250", headers=admin_headers())
    assert response.status_code == 200
    assert 1 <= len(_events(response.text)) <= 3
