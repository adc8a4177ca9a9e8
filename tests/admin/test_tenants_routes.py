"""Admin tenants API: create (key shown once, stored hashed), list, patch, audit, refusals."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from sqlalchemy import select

from leadwire.admin.models import AuditEntry
from leadwire.platform.state import AppState
from leadwire.tenants.models import ApiKey
from tests.helpers import admin_headers, bearer, error_of


async def test_create_tenant_returns_key_once_and_stores_its_hash(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    response = await client.post(
        "/v1/admin/tenants",
        json={"slug": "acme-hvac", "name": "Acme HVAC", "plan": "pro"},
        headers=admin_headers(),
    )
    assert response.status_code == 201
    body = response.json()
    assert body["slug"] == "acme-hvac"
    assert body["plan"] == "pro"
    assert "ai_voice" in body["plan_details"]["features"]
    key = body["api_key"]
    async with clean.sessions() as session:
        stored = (await session.execute(select(ApiKey))).scalars().all()
    assert [k.key_hash for k in stored] == [hashlib.sha256(key.encode()).hexdigest()]
    assert key not in {k.prefix for k in stored}
    listed = await client.get("/v1/admin/tenants", headers=admin_headers())
    assert [t["slug"] for t in listed.json()["tenants"]] == ["acme-hvac"]
    assert "api_key" not in listed.json()["tenants"][0]
    assert (await client.get("/v1/settings", headers=bearer(key))).status_code == 200


async def test_duplicate_slug_is_409_and_leaves_one_tenant(client: httpx.AsyncClient) -> None:
    first = await client.post("/v1/admin/tenants", json={"slug": "dup"}, headers=admin_headers())
    assert first.status_code == 201
    second = await client.post("/v1/admin/tenants", json={"slug": "dup"}, headers=admin_headers())
    assert second.status_code == 409
    assert error_of(second) == {
        "code": "tenant_exists",
        "message": "tenant 'dup' already exists",
        "field": "slug",
    }
    listed = await client.get("/v1/admin/tenants", headers=admin_headers())
    assert len(listed.json()["tenants"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "Bad Slug"}, "slug"),
        ({"slug": "-x"}, "slug"),
        ({"slug": "ok", "plan": "platinum"}, "plan"),
        ({"slug": "ok", "color": "red"}, "color"),
        ({}, "slug"),
        (
            {"slug": "ok", "settings": {"limits": {"calls_per_minute": -1}}},
            "limits.calls_per_minute",
        ),
    ],
)
async def test_invalid_tenant_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    response = await client.post("/v1/admin/tenants", json=body, headers=admin_headers())
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field
    listed = await client.get("/v1/admin/tenants", headers=admin_headers())
    assert listed.json()["tenants"] == []


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": "Token x"}],
)
async def test_admin_routes_refuse_without_the_token(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post("/v1/admin/tenants", json={"slug": "x"}, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_admin_token"
    assert (await client.get("/v1/admin/tenants", headers=headers)).status_code == 401
    listed = await client.get("/v1/admin/tenants", headers=admin_headers())
    assert listed.json()["tenants"] == []


async def test_patch_tenant_changes_plan_and_is_audited(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    await client.post("/v1/admin/tenants", json={"slug": "acme"}, headers=admin_headers())
    response = await client.patch(
        "/v1/admin/tenants/acme",
        json={"plan": "enterprise", "reason": "upgrade"},
        headers=admin_headers(),
    )
    assert response.status_code == 200
    assert response.json()["plan"] == "enterprise"
    missing = await client.patch(
        "/v1/admin/tenants/nobody", json={"plan": "pro"}, headers=admin_headers()
    )
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "unknown_tenant"
    empty = await client.patch("/v1/admin/tenants/acme", json={}, headers=admin_headers())
    assert empty.status_code == 422
    audit = (await client.get("/v1/admin/audit", headers=admin_headers())).json()["entries"]
    assert [(e["action"], e["target"], e["reason"]) for e in audit] == [
        ("tenant.update", "acme", "upgrade"),
        ("tenant.create", "acme", None),
    ]
    assert audit[0]["actor"] == "bootstrap"
    assert audit[0]["ip"] == "203.0.113.10"
    async with clean.sessions() as session:
        count = len((await session.execute(select(AuditEntry))).scalars().all())
    assert count == 2
    only_bootstrap = await client.get("/v1/admin/audit?actor=someone-else", headers=admin_headers())
    assert only_bootstrap.json()["entries"] == []
    bad_since = await client.get("/v1/admin/audit?since=yesterday", headers=admin_headers())
    assert bad_since.status_code == 422
    assert error_of(bad_since)["field"] == "since"
