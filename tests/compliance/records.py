"""Database helpers for the compliance service tests: tenants, leads and row counts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, text

from leadwire.leads.models import Lead, LeadStatus
from leadwire.platform.db import session_scope
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.compliance.helpers import CONSENTED_AT, GOOD_TEXT
from tests.helpers import make_tenant

AUSTIN = "+15125550100"  # TX: has a state DNC list; no 24 h cap
MIAMI = "+13055550100"  # FL: state DNC list and 3 attempts per 24 h

TENANT_SETTINGS: dict[str, Any] = {
    "caller_ids": ["+15125550199"],
    "agent": {"business_name": "Acme HVAC"},
    "timezone": "America/Chicago",
}


def consent_payload(**overrides: Any) -> dict[str, Any]:
    """The lead's `consent` JSON (CONTRACT.md section 5) that passes for Acme HVAC."""
    payload: dict[str, Any] = {
        "granted": True,
        "text": GOOD_TEXT,
        "timestamp": CONSENTED_AT.isoformat(),
        "ip": "203.0.113.7",
        "page_url": "https://acme.example/quote",
    }
    payload.update(overrides)
    return payload


async def compliant_tenant(
    state: AppState, *, slug: str = "acme", **settings: Any
) -> tuple[Tenant, str]:
    return await make_tenant(state, slug=slug, settings={**TENANT_SETTINGS, **settings})


async def make_lead(
    state: AppState,
    tenant: Tenant,
    *,
    phone: str | None = AUSTIN,
    consent: dict[str, Any] | None = None,
    no_consent: bool = False,
    **fields: Any,
) -> Lead:
    lead = Lead(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        source="api",
        dedupe_key=f"api:ext:{uuid.uuid4()}",
        status=LeadStatus.READY.value,
        phone_e164=phone,
        consent=None if no_consent else (consent or consent_payload()),
        attempts=0,
        **fields,
    )
    async with session_scope(state.sessions) as session:
        session.add(lead)
    return lead


async def count_rows(state: AppState, *tables: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with state.sessions() as session:
        for table in tables:
            result = await session.execute(text(f"SELECT count(*) FROM {table}"))
            counts[table] = int(result.scalar_one())
    return counts


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def statements(state: AppState) -> Iterator[list[str]]:
    """Collect the SQL statements sent to PostgreSQL inside the block: through SQLAlchemy,
    and straight through the asyncpg driver (the gate's hot reads). Transaction control
    (BEGIN, COMMIT, ...) belongs to the caller and is left out."""
    seen: list[str] = []

    def record(statement: str) -> None:
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            seen.append(statement)

    def on_execute(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        record(statement)

    def on_driver_query(query: Any) -> None:
        record(query.query)

    def on_checkout(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
        connection_record.driver_connection.add_query_logger(on_driver_query)

    def on_checkin(dbapi_connection: Any, connection_record: Any) -> None:
        if connection_record.driver_connection is not None:
            connection_record.driver_connection.remove_query_logger(on_driver_query)

    engine = state.engine.sync_engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine.pool, "checkout", on_checkout)
    event.listen(engine.pool, "checkin", on_checkin)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine.pool, "checkout", on_checkout)
        event.remove(engine.pool, "checkin", on_checkin)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)  # type: ignore[misc]
