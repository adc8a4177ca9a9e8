"""Test fixtures: real PostgreSQL and Redis, never mocks of our own parts.

Without LEADWIRE_DATABASE_URL / LEADWIRE_REDIS_URL the session starts the embedded servers in a
temporary folder (about a second). With them set, it creates a throw-away database on that
server and uses a spare Redis logical database.

Isolation: tables are truncated and the Redis database flushed before each test that asks for
`clean` (directly or through `client`/`state`). A per-test transaction rollback would not do:
the code under test commits in its own sessions and worker processes see only committed rows.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from starlette.applications import Starlette

from leadwire.app import create_app
from leadwire.platform import db
from leadwire.platform.embedded import EmbeddedServers, EmbeddedValkey
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState, open_state
from tests.helpers import ADMIN_TOKEN, SECRET_KEY


@pytest.fixture(scope="session")
def server_urls() -> Iterator[tuple[str, str]]:
    db_url = os.environ.get("LEADWIRE_DATABASE_URL")
    redis_url = os.environ.get("LEADWIRE_REDIS_URL")
    servers: EmbeddedServers | None = None
    folder = Path(tempfile.mkdtemp(prefix="leadwire-test-"))
    if not db_url or not redis_url:
        servers = EmbeddedServers(folder, persist_redis=False)
        servers.start(postgres=not db_url, redis=not redis_url)
    test_db_url, drop = _throwaway_database(db_url) if db_url else (servers.postgres.url, None)  # type: ignore[union-attr]
    test_redis_url = _spare_redis_db(redis_url) if redis_url else servers.valkey.url  # type: ignore[union-attr]
    os.environ["LEADWIRE_TEST_DATA_DIR"] = str(folder)
    try:
        yield test_db_url, test_redis_url
    finally:
        if drop is not None:
            drop()
        if servers is not None:
            servers.stop()


def _throwaway_database(url: str) -> tuple[str, object]:
    import asyncpg

    name = f"leadwire_test_{uuid.uuid4().hex[:10]}"
    parts = urlsplit(url.replace("+asyncpg", ""))
    admin_dsn = urlunsplit(parts)

    async def run(sql: str) -> None:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    test_url = urlunsplit(parts._replace(path=f"/{name}")).replace(
        "postgresql://", "postgresql+asyncpg://", 1
    )

    def drop() -> None:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return test_url, drop


def _spare_redis_db(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/9"))


@pytest.fixture(scope="session")
def settings(server_urls: tuple[str, str]) -> Settings:
    db_url, redis_url = server_urls
    return Settings(
        database_url=db_url,
        redis_url=redis_url,
        admin_token=ADMIN_TOKEN,  # type: ignore[arg-type]
        secret_key=SECRET_KEY,  # type: ignore[arg-type]
        public_url="https://leadwire.test",
        data_dir=Path(os.environ["LEADWIRE_TEST_DATA_DIR"]),
        _env_file=None,  # type: ignore[call-arg]
    )


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> None:
    assert settings.database_url
    engine = db.create_engine(settings.database_url, pool_size=1)
    try:
        await db.migrate(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
async def state(settings: Settings, migrated: None) -> AsyncIterator[AppState]:
    async with open_state(settings) as opened:
        yield opened


@pytest.fixture
async def clean(state: AppState) -> AppState:
    db.import_all_models()
    tables = ", ".join(f'"{t.name}"' for t in db.Base.metadata.sorted_tables)
    async with state.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await state.redis.flushdb()
    from leadwire.tenants.auth import forget_cached_keys

    forget_cached_keys()
    return state


@pytest.fixture
async def app(settings: Settings, clean: AppState) -> AsyncIterator[Starlette]:
    application = create_app(settings, state=clean)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="https://leadwire.test") as c:
        yield c


@pytest.fixture
def token() -> str:
    return secrets.token_urlsafe(8)


@pytest.fixture
def own_valkey(tmp_path: Path) -> Iterator[EmbeddedValkey]:
    """A Valkey of the test's own, without persistence: stopping it loses every key, and
    disturbs no other test."""
    valkey = EmbeddedValkey(tmp_path, persist=False)
    valkey.start()
    try:
        yield valkey
    finally:
        valkey.stop()
