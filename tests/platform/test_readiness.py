"""/readyz answers 503 naming the server that is down (real clients pointed at dead ports)."""

from __future__ import annotations

import dataclasses

import httpx
from redis.asyncio import Redis
from starlette.applications import Starlette

from leadwire.app import create_app
from leadwire.platform import db
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState


async def _readyz(settings: Settings, state: AppState) -> httpx.Response:
    app: Starlette = create_app(settings, state=state)
    app.state.leadwire = state
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.get("/readyz")


async def test_readyz_names_redis_when_it_is_down(settings: Settings, clean: AppState) -> None:
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5)
    try:
        response = await _readyz(settings, dataclasses.replace(clean, redis=dead))
    finally:
        await dead.aclose()
    assert response.status_code == 503
    body = response.json()
    assert body["checks"]["redis"].startswith("unavailable")
    assert body["checks"]["postgresql"] == "ok"
    assert body["error"]["message"] == "Redis unavailable"


async def test_readyz_names_postgresql_when_it_is_down(settings: Settings, clean: AppState) -> None:
    engine = db.create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/x", pool_size=1)
    try:
        response = await _readyz(settings, dataclasses.replace(clean, engine=engine))
    finally:
        await engine.dispose()
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "PostgreSQL unavailable"
