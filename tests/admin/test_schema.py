"""The 0300 migration builds exactly the tables the admin and platform models describe."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from leadwire.platform import db
from leadwire.platform.state import AppState

TABLES = {
    "admin_tokens",
    "dead_letters",
    "escalations",
    "escalation_deliveries",
    "escalation_attempts",
}


def _table_of(diff: Any) -> str | None:
    if isinstance(diff, list):  # column-level changes come grouped
        return _table_of(diff[0])
    for item in diff[1:]:
        name = getattr(item, "name", None)
        table = getattr(item, "table", None)
        if table is not None and getattr(table, "name", None):
            return str(table.name)
        if name in TABLES:
            return str(name)
        if isinstance(item, str) and item in TABLES:
            return item
    return None


async def test_migration_matches_models(state: AppState) -> None:
    db.import_all_models()

    def diffs(sync_conn: Any) -> list[Any]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})
        return list(compare_metadata(context, db.Base.metadata))

    async with state.engine.connect() as conn:
        found = await conn.run_sync(diffs)
    mine = [d for d in found if _table_of(d) in TABLES]
    assert mine == []
    assert set(db.Base.metadata.tables) >= TABLES
