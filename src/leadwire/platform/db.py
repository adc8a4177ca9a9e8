"""Database: the declarative base, the async engine, sessions and the schema check.

Services take an `AsyncSession` and never commit; `session_scope` (used by routes through
`platform.http.db_session` and by the job wrapper) owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSONB,
        list[Any]: JSONB,
        dt.datetime: DateTime(timezone=True),
    }


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id() -> uuid.UUID:
    return uuid.uuid4()


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[dt.datetime] = mapped_column(server_default=func.now(), onupdate=func.now())


def create_engine(url: str, *, pool_size: int = 20, **kwargs: Any) -> AsyncEngine:
    return create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=False,
        pool_timeout=10,
        connect_args={"timeout": 5, "command_timeout": 30},
        **kwargs,
    )


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def session_scope(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any exception."""
    async with sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def import_all_models() -> None:
    """Import every area's models so `Base.metadata` knows every table (Alembic, tests)."""
    import importlib
    import pkgutil

    import leadwire

    for platform_module in ("flags", "deadletters", "escalation"):
        importlib.import_module(f"leadwire.platform.{platform_module}")
    for module in pkgutil.walk_packages(leadwire.__path__, "leadwire."):
        if module.name.endswith(".models"):
            importlib.import_module(module.name)


def _alembic_config(url: str | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        config.set_main_option("sqlalchemy.url", url)
    return config


def script_heads() -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(_alembic_config()).get_heads())


async def current_heads(conn: AsyncConnection) -> set[str]:
    def _read(sync_conn: Any) -> set[str]:
        from alembic.runtime.migration import MigrationContext

        return set(MigrationContext.configure(sync_conn).get_current_heads())

    return await conn.run_sync(_read)


async def schema_is_current(engine: AsyncEngine) -> tuple[bool, set[str], set[str]]:
    async with engine.connect() as conn:
        have = await current_heads(conn)
    want = script_heads()
    return have == want, have, want


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending migration (all branch heads) on this engine."""

    def _upgrade(sync_conn: Any) -> None:
        from alembic import command

        config = _alembic_config()
        config.attributes["connection"] = sync_conn
        command.upgrade(config, "heads")

    async with engine.begin() as conn:
        # One migrator at a time when several processes start together.
        await conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7210431)")
        await conn.run_sync(_upgrade)
