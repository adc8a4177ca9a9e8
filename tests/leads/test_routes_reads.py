"""`GET /v1/leads` and `GET /v1/leads/{id}`: newest first, opaque cursors, strictly the caller's
tenant, and the view parts higher areas plug in."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.helpers import bearer, error_of, make_tenant
from tests.leads.deliveries import direct


async def _post(client: httpx.AsyncClient, key: str, n: int, **fields: Any) -> str:
    body = {"phone": f"+1512867{n:04d}", "email": f"p{n}@example.com", **fields}
    response = await client.post("/v1/leads", json=body, headers=bearer(key))
    assert response.status_code == 202, response.text
    lead_id: str = response.json()["leads"][0]["lead_id"]
    return lead_id


async def test_pages_are_newest_first_without_gaps_or_repeats(
    intake: httpx.AsyncClient, acme: tuple[Tenant, str]
) -> None:
    _, key = acme
    posted = [await _post(intake, key, n) for n in range(7)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        body = (await intake.get("/v1/leads", params=params, headers=bearer(key))).json()
        seen += [lead["id"] for lead in body["leads"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(posted))
    first = (await intake.get("/v1/leads", headers=bearer(key))).json()["leads"][0]
    assert first["phone"] == "+15128670006" and first["status"] == "accepted"


async def test_status_filter(intake: httpx.AsyncClient, acme: tuple[Tenant, str]) -> None:
    _, key = acme
    good = await _post(intake, key, 1)
    bad = (await intake.post("/v1/leads", json={"phone": "12345"}, headers=bearer(key))).json()[
        "leads"
    ][0]["lead_id"]
    rejected = await intake.get("/v1/leads", params={"status": "rejected"}, headers=bearer(key))
    assert [lead["id"] for lead in rejected.json()["leads"]] == [bad]
    accepted = await intake.get("/v1/leads", params={"status": "accepted"}, headers=bearer(key))
    assert [lead["id"] for lead in accepted.json()["leads"]] == [good]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "lost"}, "status"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1tbW1td"}, "cursor"),
        ({"cursor": "x" * 500}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "ten"}, "limit"),
    ],
)
async def test_bad_queries_are_422_naming_the_parameter(
    intake: httpx.AsyncClient, acme: tuple[Tenant, str], params: dict[str, str], field: str
) -> None:
    response = await intake.get("/v1/leads", params=params, headers=bearer(acme[1]))
    assert response.status_code == 422
    assert error_of(response)["field"] == field


async def test_a_tenant_sees_only_its_own_leads(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    _, key = acme
    _, other_key = await make_tenant(intake_state, slug="other")
    mine = await _post(intake, key, 1)
    theirs = await _post(intake, other_key, 2)
    listed = (await intake.get("/v1/leads", headers=bearer(key))).json()["leads"]
    assert [lead["id"] for lead in listed] == [mine]
    foreign = await intake.get(f"/v1/leads/{theirs}", headers=bearer(key))
    unknown = await intake.get(f"/v1/leads/{uuid.uuid4()}", headers=bearer(key))
    garbage = await intake.get("/v1/leads/not-a-uuid", headers=bearer(key))
    for response in (foreign, unknown, garbage):
        assert response.status_code == 404
        assert error_of(response) == {"code": "lead_not_found", "message": "no such lead"}
    assert (await intake.get("/v1/leads")).status_code == 401


async def test_the_lead_view(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    response = await direct(3, acme[1]).send(intake)
    lead_id = response.json()["leads"][0]["lead_id"]
    view = (await intake.get(f"/v1/leads/{lead_id}", headers=bearer(acme[1]))).json()
    assert view["id"] == lead_id
    assert view["phone"] == "+15128673003"
    assert view["status"] == "accepted"
    assert view["priority"] == "emergency"  # "HVAC Emergency"
    assert view["compliance"] is None and view["calls"] == []
    assert [event["kind"] for event in view["timeline"]] == ["lead.received"]
    assert view["timeline"][0]["data"]["urgency"]["signals"][0]["phrase"] == "emergency"
    assert view["consent"]["granted"] is True


async def test_higher_areas_plug_their_parts_into_the_view(
    intake: httpx.AsyncClient, intake_state: AppState, acme: tuple[Tenant, str]
) -> None:
    seen: list[tuple[uuid.UUID, uuid.UUID]] = []

    async def compliance_part(
        session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
    ) -> dict[str, Any]:
        seen.append((tenant_id, lead_id))
        return {"compliance": {"decision": "call", "reason": "ok"}}

    async def calls_part(
        session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
    ) -> dict[str, Any]:
        return {"calls": [{"id": "c1", "status": "completed"}]}

    intake_state.services["lead_view_parts"] = [compliance_part, calls_part]
    lead_id = await _post(intake, acme[1], 4)
    view = (await intake.get(f"/v1/leads/{lead_id}", headers=bearer(acme[1]))).json()
    assert view["compliance"] == {"decision": "call", "reason": "ok"}
    assert view["calls"] == [{"id": "c1", "status": "completed"}]
    assert seen == [(acme[0].id, uuid.UUID(lead_id))]
