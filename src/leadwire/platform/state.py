"""The typed state every process builds once at start: engine, Redis, queues, limiter, clients.

The API's lifespan and the worker's startup both call `open_state`, so a route and a job see
the same things. Nothing here is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from leadwire.platform import db
from leadwire.platform.errors import ConfigurationError
from leadwire.platform.observability import Metrics
from leadwire.platform.queues import Queues
from leadwire.platform.ratelimit import RateLimiter
from leadwire.platform.security import SecretBox
from leadwire.platform.settings import Settings

log = logging.getLogger("leadwire.platform")


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    redis: Redis
    queues: Queues
    limiter: RateLimiter
    http: httpx.AsyncClient
    metrics: Metrics
    secret_box: SecretBox
    # Area services registered at start (telephony provider, enricher, agent factory, ...).
    services: dict[str, Any] = field(default_factory=dict)
    # Run (in order) when the state closes, before its pools: services' own sessions.
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


def _describe_db(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "unix socket"
    port = f":{parts.port}" if parts.port else ""
    return f"{host}{port}{parts.path}"


def _describe_redis(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname or parts.path}{':' + str(parts.port) if parts.port else ''}"


async def check_database(engine: AsyncEngine, settings: Settings) -> None:
    """Fail fast, with one line naming it, when PostgreSQL cannot be reached."""
    assert settings.database_url
    try:
        async with asyncio.timeout(settings.startup_timeout_s / 2):
            async with engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
    except Exception as exc:  # any driver/OS error means "cannot reach"
        reason = type(exc).__name__ if isinstance(exc, TimeoutError) else str(exc).splitlines()[0]
        raise ConfigurationError(
            f"PostgreSQL at LEADWIRE_DATABASE_URL ({_describe_db(settings.database_url)}) "
            f"cannot be reached: {reason or type(exc).__name__}"
        ) from None


async def check_redis(redis: Redis, settings: Settings) -> None:
    """Fail fast, with one line naming it, when Redis cannot be reached."""
    assert settings.redis_url
    try:
        async with asyncio.timeout(settings.startup_timeout_s / 2):
            await redis.ping()  # type: ignore[misc]
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(
            f"Redis at LEADWIRE_REDIS_URL ({_describe_redis(settings.redis_url)}) "
            f"cannot be reached: {reason}"
        ) from None


async def check_servers(engine: AsyncEngine, redis: Redis, settings: Settings) -> None:
    await check_database(engine, settings)
    await check_redis(redis, settings)


async def check_schema(engine: AsyncEngine) -> None:
    current, have, want = await db.schema_is_current(engine)
    if not current:
        have_s = ", ".join(sorted(have)) or "empty"
        raise ConfigurationError(
            f"database schema is behind (at {have_s}, code needs {', '.join(sorted(want))}): "
            "run `leadwire migrate`"
        )


@asynccontextmanager
async def open_state(
    settings: Settings, *, check_schema_version: bool = True, metrics: Metrics | None = None
) -> AsyncIterator[AppState]:
    settings.require("database_url", "redis_url", "secret_key")
    assert settings.database_url and settings.redis_url
    engine = db.create_engine(settings.database_url, pool_size=settings.db_pool_size)
    redis = Redis.from_url(
        settings.redis_url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30
    )
    http = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0))
    limiter = RateLimiter(settings.redis_url)
    state: AppState | None = None
    try:
        await check_servers(engine, redis, settings)
        if check_schema_version:
            await check_schema(engine)
        state = AppState(
            settings=settings,
            engine=engine,
            sessions=db.create_sessionmaker(engine),
            redis=redis,
            queues=Queues(redis),
            limiter=limiter,
            http=http,
            metrics=metrics or Metrics(),
            secret_box=SecretBox(settings.fernet_key),
        )
        yield state
    finally:
        for close in state.on_close if state is not None else ():
            with contextlib.suppress(Exception):
                await close()
        await http.aclose()
        await limiter.close()
        await redis.aclose()
        await engine.dispose()
