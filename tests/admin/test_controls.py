"""Emergency mode, queue pauses, tenant pauses and simulator overrides through the admin API."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import sys
import types
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from leadwire.admin.controls import INDEFINITE
from leadwire.app import create_app
from leadwire.platform import flags
from leadwire.platform.db import utcnow
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState, open_state
from leadwire.tenants.models import Tenant
from tests.helpers import admin_headers, error_of, make_tenant

H = admin_headers()


async def _audit(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = (await client.get("/v1/admin/audit", headers=H)).json()[
        "entries"
    ]
    return entries


async def _dial_allowed(state: AppState, priority: str = "high") -> bool:
    """What the dial step checks before every dial (platform.flags, read from PostgreSQL)."""
    async with state.sessions() as session:
        current = await flags.read_flags(session)
    return current.emergency is None and not current.queue_paused(priority)


async def test_emergency_on_stops_dialing_and_off_resumes_it_all_audited(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    assert (await client.get("/v1/admin/emergency", headers=H)).json() == {"active": False}
    on = await client.put("/v1/admin/emergency", json={"reason": "carrier outage"}, headers=H)
    assert on.status_code == 200
    body = on.json()
    assert body["active"] is True
    assert (body["reason"], body["until"], body["actor"]) == ("carrier outage", None, "bootstrap")
    assert "hangup" not in body
    assert not await _dial_allowed(clean)
    assert (await client.get("/v1/admin/emergency", headers=H)).json()["active"] is True
    off = await client.request(
        "DELETE", "/v1/admin/emergency", json={"reason": "carrier back"}, headers=H
    )
    assert off.json() == {"active": False, "cleared": True}
    assert await _dial_allowed(clean)
    again = await client.delete("/v1/admin/emergency", headers=H)
    assert again.json() == {"active": False, "cleared": False}
    audit = await _audit(client)
    assert [(e["action"], e["reason"], e["actor"]) for e in audit] == [
        ("emergency.off", None, "bootstrap"),
        ("emergency.off", "carrier back", "bootstrap"),
        ("emergency.on", "carrier outage", "bootstrap"),
    ]
    assert audit[2]["details"] == {"duration_s": None, "hangup_active": False}


async def test_emergency_expires_by_itself_at_its_duration(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    on = await client.put(
        "/v1/admin/emergency", json={"reason": "drill", "duration_s": 1}, headers=H
    )
    until = dt.datetime.fromisoformat(on.json()["until"])
    since = dt.datetime.fromisoformat(on.json()["since"])
    assert until - since == dt.timedelta(seconds=1)
    assert not await _dial_allowed(clean)
    await asyncio.sleep(max(0.0, (until - utcnow()).total_seconds()) + 0.05)
    assert await _dial_allowed(clean)
    assert (await client.get("/v1/admin/emergency", headers=H)).json() == {"active": False}


async def test_emergency_survives_a_restart_and_a_redis_wipe(
    client: httpx.AsyncClient, clean: AppState, settings: Settings
) -> None:
    await client.put("/v1/admin/emergency", json={"reason": "audit hold"}, headers=H)
    await clean.redis.flushdb()
    async with open_state(settings) as fresh:  # a new process's view of the platform
        assert not await _dial_allowed(fresh)
        app = create_app(settings, state=fresh)
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="https://t") as other:
                view = (await other.get("/v1/admin/emergency", headers=H)).json()
    assert (view["active"], view["reason"]) == (True, "audit hold")


async def test_hangup_is_recorded_as_unavailable_until_telephony_provides_it(
    client: httpx.AsyncClient,
) -> None:
    on = await client.put(
        "/v1/admin/emergency", json={"reason": "abuse", "hangup_active": True}, headers=H
    )
    assert on.status_code == 200
    assert on.json()["hangup"] == {"requested": True, "status": "unavailable", "hung_up": None}
    audit = await _audit(client)
    assert audit[0]["action"] == "emergency.hangup"
    assert audit[0]["details"]["status"] == "unavailable"


async def test_hangup_calls_telephony_when_it_exists(
    client: httpx.AsyncClient, clean: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []

    async def hangup_active_calls(session: Any, *, state: AppState, tenant_id: Any) -> int:
        calls.append({"state": state is clean, "tenant_id": tenant_id})
        return 3

    module = types.ModuleType("leadwire.telephony.service")
    module.hangup_active_calls = hangup_active_calls  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "leadwire.telephony.service", module)
    on = await client.put(
        "/v1/admin/emergency", json={"reason": "abuse", "hangup_active": True}, headers=H
    )
    assert on.json()["hangup"] == {"requested": True, "status": "done", "hung_up": 3}
    assert calls == [{"state": True, "tenant_id": None}]
    assert on.json()["hangup_active"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "reason"),
        ({"reason": ""}, "reason"),
        ({"reason": "x", "duration_s": 0}, "duration_s"),
        ({"reason": "x", "hangup_active": "maybe"}, "hangup_active"),
    ],
)
async def test_invalid_emergency_requests_change_nothing(
    client: httpx.AsyncClient, clean: AppState, body: dict[str, Any], field: str
) -> None:
    response = await client.put("/v1/admin/emergency", json=body, headers=H)
    assert response.status_code == 422
    assert error_of(response)["field"] == field
    assert await _dial_allowed(clean)


async def test_queue_pause_and_resume_by_priority_or_all(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    low = await client.post(
        "/v1/admin/queues/pause", json={"priority": "low", "reason": "slow day"}, headers=H
    )
    assert low.status_code == 200
    assert low.json()["paused"] == ["low"]
    assert low.json()["queues"]["low"] == {"paused": True}
    assert not await _dial_allowed(clean, "low")
    assert await _dial_allowed(clean, "high")
    everything = await client.post("/v1/admin/queues/pause", headers=H)
    assert everything.json()["paused"] == ["all", "low"]
    assert not await _dial_allowed(clean, "emergency")
    # resuming one priority leaves the pause of every queue in place
    one = await client.post("/v1/admin/queues/resume", json={"priority": "low"}, headers=H)
    assert one.json()["paused"] == ["all"]
    assert not await _dial_allowed(clean, "low")
    cleared = await client.post("/v1/admin/queues/resume", headers=H)
    assert cleared.json()["paused"] == []
    assert await _dial_allowed(clean, "low")
    bad = await client.post("/v1/admin/queues/pause", json={"priority": "urgent"}, headers=H)
    assert bad.status_code == 422
    assert error_of(bad)["field"] == "priority"
    actions = [(e["action"], e["target"]) for e in await _audit(client)]
    assert actions == [
        ("queue.resume", "all"),
        ("queue.resume", "low"),
        ("queue.pause", "all"),
        ("queue.pause", "low"),
    ]


async def _tenant(state: AppState, slug: str) -> Tenant:
    async with state.sessions() as session:
        from leadwire.tenants.repository import get_by_slug

        tenant = await get_by_slug(session, slug)
        assert tenant is not None
        return tenant


async def test_tenant_pause_until_a_time_or_indefinitely(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    await make_tenant(clean, slug="acme")
    until = (utcnow() + dt.timedelta(hours=2)).replace(microsecond=0)
    paused = await client.post(
        "/v1/admin/tenants/acme/pause",
        json={"reason": "invoice overdue", "until": until.isoformat()},
        headers=H,
    )
    assert paused.json() == {
        "slug": "acme",
        "paused": True,
        "until": until.isoformat(),
        "indefinite": False,
        "reason": "invoice overdue",
    }
    assert (await _tenant(clean, "acme")).paused_until == until
    forever = await client.post(
        "/v1/admin/tenants/acme/pause", json={"reason": "fraud review"}, headers=H
    )
    assert forever.json()["indefinite"] is True
    assert forever.json()["until"] is None
    row = await _tenant(clean, "acme")
    # stored as a far-future time so every `paused_until > now` reader sees the pause
    assert row.paused_until == INDEFINITE
    assert row.paused_until > utcnow() + dt.timedelta(days=365 * 1000)
    resumed = await client.post(
        "/v1/admin/tenants/acme/resume", json={"reason": "cleared"}, headers=H
    )
    assert resumed.json()["paused"] is False
    row = await _tenant(clean, "acme")
    assert (row.paused_until, row.pause_reason) == (None, None)
    audit = [(e["action"], e["target"], e["reason"]) for e in await _audit(client)]
    assert audit[:3] == [
        ("tenant.resume", "acme", "cleared"),
        ("tenant.pause", "acme", "fraud review"),
        ("tenant.pause", "acme", "invoice overdue"),
    ]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"reason": "x", "until": "2020-01-01T00:00:00+00:00"}, 422, "until"),
        ({"reason": "x", "until": "2099-01-01T00:00:00"}, 422, "until"),
        ({"until": "2099-01-01T00:00:00Z"}, 422, "reason"),
    ],
)
async def test_invalid_tenant_pauses_are_refused(
    client: httpx.AsyncClient,
    clean: AppState,
    body: dict[str, Any],
    status: int,
    field: str,
) -> None:
    await make_tenant(clean, slug="acme")
    response = await client.post("/v1/admin/tenants/acme/pause", json=body, headers=H)
    assert response.status_code == status
    assert error_of(response)["field"] == field
    assert (await _tenant(clean, "acme")).paused_until is None


async def test_unknown_tenants_cannot_be_paused(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/admin/tenants/nobody/pause", json={"reason": "x"}, headers=H)
    assert response.status_code == 404
    assert error_of(response)["code"] == "unknown_tenant"


async def test_simulator_override_needs_the_simulated_carrier(client: httpx.AsyncClient) -> None:
    response = await client.put(
        "/v1/admin/simulator/numbers/+15125550100", json={"outcome": "busy"}, headers=H
    )
    assert response.status_code == 501
    assert error_of(response)["code"] == "simulator_unavailable"
    bad = await client.put("/v1/admin/simulator/numbers/12345", json={"outcome": "busy"}, headers=H)
    assert bad.status_code == 422
    assert error_of(bad)["field"] == "e164"


async def test_simulator_override_reaches_the_simulator(
    client: httpx.AsyncClient, clean: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[dict[str, Any]] = []

    def set_override(state: AppState, **kwargs: Any) -> None:
        seen.append(kwargs)

    module = types.ModuleType("leadwire.telephony.simulator")
    module.set_override = set_override  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "leadwire.telephony.simulator", module)
    response = await client.put(
        "/v1/admin/simulator/numbers/+15125550100",
        json={"outcome": "failed", "error_code": 13224},
        headers=H,
    )
    assert response.status_code == 200, response.text
    assert seen == [
        {"e164": "+15125550100", "outcome": "failed", "duration_s": None, "error_code": 13224}
    ]
    [entry] = [e for e in await _audit(client) if e["action"] == "simulator.override"]
    assert entry["target"] == "+1512***0100"  # no raw phone numbers in the audit log


@pytest.fixture
async def twilio_client(settings: Settings, clean: AppState) -> AsyncIterator[httpx.AsyncClient]:
    twilio = dataclasses.replace(
        clean, settings=settings.model_copy(update={"telephony": "twilio"})
    )
    app = create_app(settings, state=twilio)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://t") as c:
            yield c


async def test_simulator_override_is_refused_with_real_twilio(
    twilio_client: httpx.AsyncClient,
) -> None:
    response = await twilio_client.put(
        "/v1/admin/simulator/numbers/+15125550100", json={"outcome": "busy"}, headers=H
    )
    assert response.status_code == 501
    assert error_of(response)["code"] == "simulator_not_active"
