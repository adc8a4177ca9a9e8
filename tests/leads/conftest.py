"""Leads tests: a fresh intake process state per test, the platform's app secrets, a tenant
with every source configured, and a client for an app built on that state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from leadwire.leads import tenancy
from leadwire.leads.abuse import forget_leases, redis_health
from leadwire.leads.tasks import ROUTER
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.helpers import make_tenant
from tests.leads.checks import client_for, with_settings
from tests.leads.deliveries import TENANT_SETTINGS


@pytest.fixture(autouse=True)
def _fresh_intake_process_state() -> Iterator[None]:
    tenancy.forget()
    redis_health.reset()
    forget_leases()
    yield
    tenancy.forget()
    redis_health.reset()
    forget_leases()


@pytest.fixture
def intake_state(clean: AppState) -> AppState:
    return with_settings(clean)


@pytest.fixture
async def intake(intake_state: AppState) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(intake_state) as c:
        # The leads area on its own: the hand-off to the dialer is the `dialer.route` job (the
        # composition root's inline router is tested in tests/test_services.py).
        intake_state.services.pop(ROUTER, None)
        yield c


@pytest.fixture
async def acme(clean: AppState) -> tuple[Tenant, str]:
    """Tenant `acme` with every source configured; (tenant, API key)."""
    return await make_tenant(clean, slug="acme", settings=TENANT_SETTINGS)
