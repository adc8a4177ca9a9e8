"""Plain helpers for the intake tests: apps on a given state, and what the store holds."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from pydantic import SecretStr
from sqlalchemy import func, select

from leadwire.app import create_app
from leadwire.leads.models import Lead, LeadEvent
from leadwire.platform.queues import INTAKE_QUEUES
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from tests.leads.deliveries import HUBSPOT_SECRET, META_APP_SECRET, META_VERIFY_TOKEN

PLATFORM_SECRETS: dict[str, Any] = {
    "meta_app_secret": SecretStr(META_APP_SECRET),
    "meta_verify_token": SecretStr(META_VERIFY_TOKEN),
    "hubspot_client_secret": SecretStr(HUBSPOT_SECRET),
}
CLIENT_IP = "203.0.113.10"


def intake_settings(base: Settings, **overrides: Any) -> Settings:
    return base.model_copy(update={**PLATFORM_SECRETS, **overrides})


def with_settings(state: AppState, **overrides: Any) -> AppState:
    """The state with the platform's Meta and HubSpot secrets (and `overrides`) set."""
    return dataclasses.replace(
        state, settings=intake_settings(state.settings, **overrides), services={}
    )


@asynccontextmanager
async def client_for(state: AppState, *, ip: str = CLIENT_IP) -> AsyncIterator[httpx.AsyncClient]:
    application = create_app(state.settings, state=state)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application, client=(ip, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="https://leadwire.test") as c:
            yield c


async def lead_count(state: AppState, tenant_id: uuid.UUID | None = None) -> int:
    async with state.sessions() as session:
        query = select(func.count()).select_from(Lead)
        if tenant_id is not None:
            query = query.where(Lead.tenant_id == tenant_id)
        return int((await session.execute(query)).scalar_one())


async def stored_leads(state: AppState) -> list[Lead]:
    async with state.sessions() as session:
        return list((await session.execute(select(Lead).order_by(Lead.received_at))).scalars())


async def events_of(state: AppState, lead_id: uuid.UUID | str) -> list[LeadEvent]:
    async with state.sessions() as session:
        query = (
            select(LeadEvent)
            .where(LeadEvent.lead_id == uuid.UUID(str(lead_id)))
            .order_by(LeadEvent.id)
        )
        return list((await session.execute(query)).scalars())


async def half_leads(state: AppState) -> int:
    """Leads stored without their first timeline event (the ingest must never leave one)."""
    async with state.sessions() as session:
        query = (
            select(func.count())
            .select_from(Lead)
            .where(~select(LeadEvent.id).where(LeadEvent.lead_id == Lead.id).exists())
        )
        return int((await session.execute(query)).scalar_one())


async def intake_job_pending(state: AppState, job_key: str) -> bool:
    """Whether a job with `job_key` is pending on either intake lane (`intake`, or
    `intake_urgent` for emergency leads)."""
    return await state.queues.job_pending_on_any(INTAKE_QUEUES, job_key)
