"""Tenant settings: merge semantics, write-only secrets encrypted at rest, precise errors."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant, TenantSourceKey
from tests.helpers import bearer, error_of, make_tenant


async def test_defaults_follow_the_contract(client: httpx.AsyncClient, clean: AppState) -> None:
    _, key = await make_tenant(clean)
    body = (await client.get("/v1/settings", headers=bearer(key))).json()
    assert body["default_region"] == "US"
    assert body["limits"]["calls_per_minute"] == 10
    assert body["dial_delays_s"] == {"emergency": 0, "high": 30, "medium": 300, "low": 1800}
    assert body["calling_hours"]["start"] == "08:00"
    assert body["consent"]["required"] is True


async def test_patch_merges_and_secrets_are_write_only(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    tenant, key = await make_tenant(clean)
    patch = {
        "limits": {"calls_per_minute": 3},
        "sources": {"meta": {"page_ids": ["1234567890"], "page_access_token": "EAAG-page-token"}},
        "caller_ids": ["+1 512 555 0100"],
    }
    response = await client.patch("/v1/settings", json=patch, headers=bearer(key))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["limits"]["calls_per_minute"] == 3
    assert body["limits"]["calls_per_hour"] == 100  # merged, not replaced
    assert body["caller_ids"] == ["+15125550100"]
    assert body["sources"]["meta"] == {"page_ids": ["1234567890"], "page_access_token": "***"}
    again = (await client.get("/v1/settings", headers=bearer(key))).json()
    assert again["sources"]["meta"]["page_access_token"] == "***"
    async with clean.sessions() as session:
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        assert b"EAAG-page-token" not in (row.secrets or b"")
        assert "EAAG-page-token" not in str(row.settings)
        assert clean.secret_box.open(row.secrets) == {"meta.page_access_token": "EAAG-page-token"}
        keys = (await session.execute(select(TenantSourceKey))).scalars().all()
        assert [(k.source, k.key) for k in keys] == [("meta", "1234567890")]
    # Sending the mask back keeps the stored secret; null removes it.
    await client.patch(
        "/v1/settings",
        json={"sources": {"meta": {"page_access_token": "***"}}},
        headers=bearer(key),
    )
    async with clean.sessions() as session:
        row = await session.get(Tenant, tenant.id)
        assert row is not None
        assert clean.secret_box.open(row.secrets) == {"meta.page_access_token": "EAAG-page-token"}
    await client.patch(
        "/v1/settings", json={"sources": {"meta": {"page_access_token": None}}}, headers=bearer(key)
    )
    final = (await client.get("/v1/settings", headers=bearer(key))).json()
    assert "page_access_token" not in final["sources"]["meta"]


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"limits": {"calls_per_minute": "many"}}, "limits.calls_per_minute"),
        ({"calling_hours": {"start": "25:00"}}, "calling_hours.start"),
        ({"calling_hours": {"start": "22:00", "end": "08:00"}}, "calling_hours"),
        ({"caller_ids": ["not-a-number"]}, "caller_ids"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"sources": {"myspace": {}}}, "sources.myspace"),
        ({"field_map": {"q1": "favourite_colour"}}, "field_map"),
        ({"default_region": "usa"}, "default_region"),
    ],
)
async def test_invalid_settings_are_422_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, clean: AppState, patch: dict[str, object], field: str
) -> None:
    _, key = await make_tenant(clean)
    before = (await client.get("/v1/settings", headers=bearer(key))).json()
    response = await client.patch("/v1/settings", json=patch, headers=bearer(key))
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field
    assert (await client.get("/v1/settings", headers=bearer(key))).json() == before


async def test_a_page_connected_to_another_tenant_is_refused(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    _, key_a = await make_tenant(clean, slug="a")
    _, key_b = await make_tenant(clean, slug="b")
    page = {"sources": {"meta": {"page_ids": ["555"]}}}
    assert (await client.patch("/v1/settings", json=page, headers=bearer(key_a))).status_code == 200
    taken = await client.patch("/v1/settings", json=page, headers=bearer(key_b))
    assert taken.status_code == 422
    assert error_of(taken)["code"] == "source_in_use"


async def test_settings_body_must_be_a_json_object(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    _, key = await make_tenant(clean)
    response = await client.patch("/v1/settings", json=[1, 2], headers=bearer(key))
    assert response.status_code == 422
    assert error_of(response)["code"] == "invalid_payload"
