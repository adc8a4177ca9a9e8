"""Admin tokens and scopes: read-only tokens change nothing (403), no token nothing (401), and
every refused attempt is logged, counted and audited."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from leadwire.admin.models import AdminToken, AuditEntry
from leadwire.platform.flags import Flag
from leadwire.platform.security import hash_token
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.helpers import admin_headers, bearer, error_of, make_tenant

SOME_ID = str(uuid.uuid4())

# Every route that changes something: (method, path, body).
OPERATE_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/admin/tenants", {"slug": "newco"}),
    ("PATCH", "/v1/admin/tenants/acme", {"plan": "enterprise"}),
    ("POST", "/v1/admin/tokens", {"name": "sneaky", "scope": "operate"}),
    ("DELETE", f"/v1/admin/tokens/{SOME_ID}", None),
    ("POST", f"/v1/admin/errors/{SOME_ID}/resolve", {"note": "done"}),
    ("POST", f"/v1/admin/errors/{SOME_ID}/replay", None),
    ("PUT", "/v1/admin/emergency", {"reason": "drill"}),
    ("DELETE", "/v1/admin/emergency", None),
    ("POST", "/v1/admin/queues/pause", {"priority": "low"}),
    ("POST", "/v1/admin/queues/resume", None),
    ("POST", "/v1/admin/tenants/acme/pause", {"reason": "unpaid"}),
    ("POST", "/v1/admin/tenants/acme/resume", None),
    ("PUT", "/v1/admin/simulator/numbers/+15125550100", {"outcome": "busy"}),
]
READ_ROUTES = [
    "/v1/admin/tenants",
    "/v1/admin/audit",
    "/v1/admin/tokens",
    "/v1/admin/errors",
    "/v1/admin/escalations",
    "/v1/admin/emergency",
    "/v1/admin/metrics/queue-status",
    "/v1/admin/stream?events=1",
]


async def _token(client: httpx.AsyncClient, scope: str, name: str | None = None) -> str:
    response = await client.post(
        "/v1/admin/tokens",
        json={"name": name or f"{scope}-token", "scope": scope},
        headers=admin_headers(),
    )
    assert response.status_code == 201, response.text
    token: str = response.json()["token"]
    return token


async def _send(
    client: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


async def _nothing_changed(state: AppState, *, tokens: int) -> None:
    async with state.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Flag))).scalar_one() == 0
        [tenant] = (await session.execute(select(Tenant))).scalars().all()
        assert (tenant.slug, tenant.plan, tenant.paused_until) == ("acme", "pro", None)
        count = (await session.execute(select(func.count()).select_from(AdminToken))).scalar_one()
        assert count == tokens
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
        assert set(actions) <= {"auth.refused", "admin_token.create"}


def _refused_count(state: AppState, kind: str) -> float:
    value = state.metrics.registry.get_sample_value(
        "leadwire_security_events_total", {"kind": kind}
    )
    return value or 0.0


async def _refusals(state: AppState) -> list[AuditEntry]:
    async with state.sessions() as session:
        query = select(AuditEntry).where(AuditEntry.outcome == "refused").order_by(AuditEntry.id)
        return list((await session.execute(query)).scalars().all())


@pytest.mark.parametrize(("method", "path", "body"), OPERATE_ROUTES)
async def test_a_read_only_token_cannot_change_anything(
    client: httpx.AsyncClient,
    clean: AppState,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    await make_tenant(clean, slug="acme")
    reader = await _token(client, "read", "dashboard")
    before = _refused_count(clean, "admin_forbidden")
    with caplog.at_level(logging.WARNING, logger="leadwire.security"):
        response = await _send(client, method, path, body, bearer(reader))
    assert response.status_code == 403, response.text
    assert error_of(response)["code"] == "insufficient_scope"
    await _nothing_changed(clean, tokens=1)
    [refusal] = await _refusals(clean)
    assert (refusal.actor, refusal.action, refusal.reason) == (
        "token:dashboard",
        "auth.refused",
        "read-only token",
    )
    assert refusal.target == f"{method} {path}"
    assert refusal.ip == "203.0.113.10"
    assert _refused_count(clean, "admin_forbidden") == before + 1
    lines = [r for r in caplog.records if r.getMessage() == "admin request refused"]
    assert len(lines) == 1
    assert lines[0].__dict__["reason"] == "read-only token"


@pytest.mark.parametrize(("method", "path", "body"), OPERATE_ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer lwa_not-a-real-token"}, {"Authorization": "Basic abc"}],
    ids=["missing", "unknown", "not-bearer"],
)
async def test_without_a_valid_token_nothing_changes(
    client: httpx.AsyncClient,
    clean: AppState,
    caplog: pytest.LogCaptureFixture,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
) -> None:
    await make_tenant(clean, slug="acme")
    before = _refused_count(clean, "admin_unauthorized")
    with caplog.at_level(logging.WARNING, logger="leadwire.security"):
        response = await _send(client, method, path, body, headers)
    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "invalid_admin_token"
    await _nothing_changed(clean, tokens=0)
    [refusal] = await _refusals(clean)
    assert refusal.actor == "anonymous"
    assert refusal.reason in {"missing token", "invalid token"}
    assert _refused_count(clean, "admin_unauthorized") == before + 1
    assert [r.getMessage() for r in caplog.records].count("admin request refused") == 1


def test_the_list_covers_every_mounted_admin_route_that_changes_something(app: Starlette) -> None:
    mounted = set()
    for route in app.routes:
        path = getattr(route, "path", "")
        for method in getattr(route, "methods", None) or ():
            if path.startswith("/v1/admin") and method not in {"GET", "HEAD"}:
                mounted.add((method, path))
    listed = set()
    for method, path, _ in OPERATE_ROUTES:
        template = (
            path.replace(SOME_ID, "{token_id}" if "tokens" in path else "{error_id}")
            .replace("/acme", "/{slug}")
            .replace("+15125550100", "{e164}")
        )
        listed.add((method, template))
    assert mounted == listed


@pytest.mark.parametrize("path", READ_ROUTES)
async def test_a_read_only_token_reads_and_nobody_else_does(
    client: httpx.AsyncClient, path: str
) -> None:
    reader = await _token(client, "read")
    allowed = await client.get(path, headers=bearer(reader))
    assert allowed.status_code == 200, allowed.text
    refused = await client.get(path)
    assert refused.status_code == 401


async def test_tokens_are_shown_once_stored_hashed_and_revocable(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    created = await client.post(
        "/v1/admin/tokens", json={"name": "oncall", "scope": "operate"}, headers=admin_headers()
    )
    assert created.status_code == 201
    body = created.json()
    token = body["token"]
    assert token.startswith("lwa_")
    assert body["scope"] == "operate"
    async with clean.sessions() as session:
        [row] = (await session.execute(select(AdminToken))).scalars().all()
    assert row.token_hash == hash_token(token)
    listed = (await client.get("/v1/admin/tokens", headers=admin_headers())).json()["tokens"]
    assert [t["name"] for t in listed] == ["oncall"]
    assert "token" not in listed[0]
    assert token not in str(listed)
    # an operate token can act, and is named in the audit log
    on = await client.put(
        "/v1/admin/emergency", json={"reason": "carrier outage"}, headers=bearer(token)
    )
    assert on.status_code == 200
    assert on.json()["actor"] == "token:oncall"
    revoked = await client.delete(f"/v1/admin/tokens/{body['id']}", headers=admin_headers())
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = await client.get("/v1/admin/emergency", headers=bearer(token))
    assert after.status_code == 401
    missing = await client.delete(f"/v1/admin/tokens/{uuid.uuid4()}", headers=admin_headers())
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "unknown_admin_token"
    audit = (await client.get("/v1/admin/audit", headers=admin_headers())).json()["entries"]
    assert [e["action"] for e in audit if e["outcome"] == "ok"] == [
        "admin_token.revoke",
        "emergency.on",
        "admin_token.create",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "name"), ({"name": "x", "scope": "root"}, "scope"), ({"name": "x", "extra": 1}, "extra")],
)
async def test_invalid_token_requests_are_422(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/admin/tokens", json=body, headers=admin_headers())
    assert response.status_code == 422
    assert error_of(response)["field"] == field


async def test_refused_attempts_are_always_logged_but_audited_within_a_cap(
    client: httpx.AsyncClient, clean: AppState, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="leadwire.security"):
        for _ in range(65):
            assert (
                await client.put("/v1/admin/emergency", json={"reason": "x"})
            ).status_code == 401
    assert [r.getMessage() for r in caplog.records].count("admin request refused") == 65
    assert len(await _refusals(clean)) == 60  # REFUSED_AUDIT_LIMIT per address and minute
