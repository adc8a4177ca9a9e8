"""The compliance routes over HTTP: DNC list management, bulk upload, the gate's dry run."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from leadwire.platform.state import AppState
from tests.compliance.records import AUSTIN, compliant_tenant, consent_payload, count_rows
from tests.helpers import bearer, error_of

STORED = ("lead_events", "consent_revocations", "contact_attempts", "dnc_entries", "dnc_lists")
# Wednesday 10 June 2026, 11:00 in Austin.
AT = "2026-06-10T16:00:00Z"


async def test_add_and_remove_a_number(client: httpx.AsyncClient, clean: AppState) -> None:
    _, key = await compliant_tenant(clean)
    added = await client.post("/v1/dnc", json={"phone": "(512) 555-0100"}, headers=bearer(key))
    assert added.status_code == 201, added.text
    assert added.json() == {"phone": AUSTIN, "list": "tenant", "added": True}
    again = await client.post("/v1/dnc", json={"phone": AUSTIN}, headers=bearer(key))
    assert again.status_code == 200
    assert again.json()["added"] is False
    assert (await count_rows(clean, "consent_revocations"))["consent_revocations"] == 2

    check = await client.post(
        "/v1/compliance/check",
        json={"phone": AUSTIN, "consent": consent_payload(), "at": AT},
        headers=bearer(key),
    )
    assert check.json()["decision"] == "block"
    assert check.json()["reason"] == "internal_dnc"

    removed = await client.delete("/v1/dnc/+15125550100", headers=bearer(key))
    assert removed.status_code == 204
    assert removed.content == b""
    gone = await client.delete("/v1/dnc/%2B15125550100", headers=bearer(key))
    assert gone.status_code == 404
    assert error_of(gone)["code"] == "not_on_dnc_list"
    # The opt-out stays on record: consent given before it is still revoked.
    after = await client.post(
        "/v1/compliance/check",
        json={"phone": AUSTIN, "consent": consent_payload(), "at": AT},
        headers=bearer(key),
    )
    assert after.json()["reason"] == "consent_revoked"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_payload"),
        ({"phone": ""}, "invalid_payload"),
        ({"phone": "12345"}, "invalid_phone"),
        ({"phone": "call me maybe"}, "invalid_phone"),
        ({"phone": "+15125550100", "note": "x"}, "invalid_payload"),
    ],
)
async def test_add_names_the_bad_field(
    client: httpx.AsyncClient, clean: AppState, body: dict[str, Any], code: str
) -> None:
    _, key = await compliant_tenant(clean)
    response = await client.post("/v1/dnc", json=body, headers=bearer(key))
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == code
    assert error["field"] == ("note" if "note" in body else "phone")


async def test_delete_validates_the_number(client: httpx.AsyncClient, clean: AppState) -> None:
    _, key = await compliant_tenant(clean)
    response = await client.delete("/v1/dnc/not-a-phone", headers=bearer(key))
    assert response.status_code == 422
    assert error_of(response)["field"] == "phone"
    absent = await client.delete("/v1/dnc/5125550100", headers=bearer(key))
    assert absent.status_code == 404


async def test_dnc_routes_need_a_tenant_key(client: httpx.AsyncClient, clean: AppState) -> None:
    for response in (
        await client.post("/v1/dnc", json={"phone": AUSTIN}),
        await client.delete(f"/v1/dnc/{AUSTIN}", headers=bearer("lw_wrong")),
        await client.post("/v1/dnc/import", content=b"5125550100\n"),
        await client.post("/v1/compliance/check", json={"phone": AUSTIN}),
    ):
        assert response.status_code == 401
    assert await count_rows(clean, "dnc_entries") == {"dnc_entries": 0}


async def test_upload_reports_bad_lines(client: httpx.AsyncClient, clean: AppState) -> None:
    _, key = await compliant_tenant(clean)
    body = b"5125550100\n512,5550101\nnope\n\n+1 214 555 0100\n\xff\xfe\n"
    response = await client.post(
        "/v1/dnc/import",
        content=body,
        headers={**bearer(key), "Content-Type": "text/csv; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["list"] == {"kind": "tenant", "name": "tenant"}
    assert (result["accepted"], result["rejected"], result["skipped"]) == (3, 2, 1)
    assert result["rejected_lines"] == [3, 6]
    assert (result["inserted"], result["row_count"], result["replace"]) == (3, 3, False)

    replaced = await client.post(
        "/v1/dnc/import?replace=true",
        content=b"2145550100\n",
        headers={**bearer(key), "Content-Type": "text/plain"},
    )
    assert (replaced.json()["removed"], replaced.json()["row_count"]) == (2, 1)


@pytest.mark.parametrize(
    ("content_type", "body", "query", "status", "field"),
    [
        ("application/json", b'{"phone": "+15125550100"}', "", 415, None),
        ("text/csv", b"  \n", "", 422, "body"),
        ("text/csv", b"NPA,NUMBER\nphone\n", "", 422, "body"),
        ("text/csv", b"5125550100\n", "?replace=maybe", 422, "replace"),
    ],
)
async def test_upload_refuses_what_it_cannot_read(
    client: httpx.AsyncClient,
    clean: AppState,
    content_type: str,
    body: bytes,
    query: str,
    status: int,
    field: str | None,
) -> None:
    _, key = await compliant_tenant(clean)
    response = await client.post(
        f"/v1/dnc/import{query}",
        content=body,
        headers={**bearer(key), "Content-Type": content_type},
    )
    assert response.status_code == status
    assert error_of(response).get("field") == field
    assert await count_rows(clean, "dnc_entries") == {"dnc_entries": 0}


async def test_check_is_a_dry_run(client: httpx.AsyncClient, clean: AppState) -> None:
    _, key = await compliant_tenant(clean)
    before = await count_rows(clean, *STORED)
    response = await client.post(
        "/v1/compliance/check",
        json={
            "phone": AUSTIN,
            "consent": consent_payload(),
            "state": "TX",
            "postal_code": "78701",
            "at": AT,
        },
        headers=bearer(key),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"decision", "reason", "not_before", "checks"}
    assert (body["decision"], body["reason"], body["not_before"]) == (
        "call",
        "all_checks_passed",
        None,
    )
    assert body["checks"][0]["name"] == "phone_number"
    assert await count_rows(clean, *STORED) == before


async def test_check_defers_outside_the_window(client: httpx.AsyncClient, clean: AppState) -> None:
    _, key = await compliant_tenant(clean)
    response = await client.post(
        "/v1/compliance/check",
        # 06:00 in Austin: the federal window is closed; Texas opens at 09:00
        json={"phone": AUSTIN, "consent": consent_payload(), "at": "2026-06-10T11:00:00Z"},
        headers=bearer(key),
    )
    body = response.json()
    assert (body["decision"], body["reason"]) == ("defer", "outside_window")
    assert body["not_before"] == "2026-06-10T14:05:00Z"


async def test_check_without_consent_blocks(client: httpx.AsyncClient, clean: AppState) -> None:
    _, key = await compliant_tenant(clean)
    response = await client.post(
        "/v1/compliance/check", json={"phone": AUSTIN, "at": AT}, headers=bearer(key)
    )
    assert (response.json()["decision"], response.json()["reason"]) == ("block", "no_consent")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "phone"),
        ({"phone": "555"}, "phone"),
        ({"phone": AUSTIN, "state": "Atlantis"}, "state"),
        ({"phone": AUSTIN, "postal_code": "ABCDE"}, "postal_code"),
        ({"phone": AUSTIN, "at": "tomorrow"}, "at"),
        ({"phone": AUSTIN, "at": "2026-06-10T16:00:00"}, "at"),
        ({"phone": AUSTIN, "consent": "yes"}, "consent"),
        ({"phone": AUSTIN, "consent": {"timestamp": "last week"}}, "consent.timestamp"),
        ({"phone": AUSTIN, "consent": {"granted": "perhaps"}}, "consent.granted"),
        ({"phone": AUSTIN, "priority": "high"}, "priority"),
    ],
)
async def test_check_names_the_bad_field(
    client: httpx.AsyncClient, clean: AppState, body: dict[str, Any], field: str
) -> None:
    _, key = await compliant_tenant(clean)
    response = await client.post("/v1/compliance/check", json=body, headers=bearer(key))
    assert response.status_code == 422, response.text
    assert error_of(response)["field"] == field


async def test_routes_are_in_the_openapi_schema(client: httpx.AsyncClient, clean: AppState) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert set(paths["/v1/dnc"]) == {"post"}
    assert set(paths["/v1/dnc/{phone}"]) == {"delete"}
    assert "text/csv" in paths["/v1/dnc/import"]["post"]["requestBody"]["content"]
    assert paths["/v1/compliance/check"]["post"]["security"] == [{"tenantKey": []}]
