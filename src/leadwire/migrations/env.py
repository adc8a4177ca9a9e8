"""Alembic environment: runs on the connection handed in by `platform.db.migrate`,
or opens its own from `sqlalchemy.url` (the `alembic` CLI)."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from leadwire.platform.db import Base, import_all_models

import_all_models()
target_metadata = Base.metadata


def _run(connection: Any) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        from leadwire.platform.settings import load_settings

        url = load_settings().database_url
    assert url, "LEADWIRE_DATABASE_URL is not set"

    async def _go() -> None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(_go())


run_migrations_online()
