"""Dead letters through the admin API: list and page, resolve, replay (idempotent), audit."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from leadwire.platform import deadletters
from leadwire.platform.db import session_scope
from leadwire.platform.escalation import raise_escalation
from leadwire.platform.state import AppState
from tests.helpers import admin_headers, error_of, make_tenant

H = admin_headers()


async def _letter(state: AppState, *, tenant_id: Any = None, error_class: str = "system") -> str:
    async with session_scope(state.sessions) as session:
        letter = await deadletters.record(
            session,
            task="dialer.dial",
            queue="high",
            kwargs={"tenant_id": str(tenant_id or uuid.uuid4()), "lead_id": str(uuid.uuid4())},
            error_class=error_class,
            code="internal_error",
            message="KeyError: 'caller_id'",
            attempts=5,
            tenant_id=tenant_id,
            context={"job_key": "lead.dial:x:1"},
        )
        return str(letter.id)


async def test_list_filters_by_status_class_and_tenant_and_pages(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    tenant, _ = await make_tenant(clean, slug="acme")
    system = [await _letter(clean) for _ in range(3)]
    mine = await _letter(clean, tenant_id=tenant.id, error_class="business")
    page = (await client.get("/v1/admin/errors?limit=2", headers=H)).json()
    assert [e["id"] for e in page["errors"]] == [mine, system[2]]
    rest = (
        await client.get(f"/v1/admin/errors?limit=2&cursor={page['next_cursor']}", headers=H)
    ).json()
    assert [e["id"] for e in rest["errors"]] == [system[1], system[0]]
    assert rest["next_cursor"] is None
    business = (await client.get("/v1/admin/errors?class=business", headers=H)).json()
    assert [e["id"] for e in business["errors"]] == [mine]
    acme = (await client.get("/v1/admin/errors?tenant=acme&status=open", headers=H)).json()
    assert [e["id"] for e in acme["errors"]] == [mine]
    assert acme["errors"][0]["kwargs"]["tenant_id"] == str(tenant.id)


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("status=lost", 422, "status"),
        ("class=oops", 422, "class"),
        ("limit=0", 422, "limit"),
        ("limit=x", 422, "limit"),
        ("cursor=%%%", 422, "cursor"),
        ("tenant=nobody", 404, None),
    ],
)
async def test_invalid_filters_are_refused(
    client: httpx.AsyncClient, query: str, status: int, field: str | None
) -> None:
    response = await client.get(f"/v1/admin/errors?{query}", headers=H)
    assert response.status_code == status
    assert error_of(response).get("field") == field


async def test_resolve_with_a_note_is_idempotent_and_audited(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    letter_id = await _letter(clean)
    first = await client.post(
        f"/v1/admin/errors/{letter_id}/resolve", json={"note": "fixed in 1.2.3"}, headers=H
    )
    assert first.status_code == 200
    assert (first.json()["status"], first.json()["note"], first.json()["changed"]) == (
        "resolved",
        "fixed in 1.2.3",
        True,
    )
    second = await client.post(
        f"/v1/admin/errors/{letter_id}/resolve", json={"note": "again"}, headers=H
    )
    assert (second.json()["note"], second.json()["changed"]) == ("fixed in 1.2.3", False)
    empty = await client.post(f"/v1/admin/errors/{letter_id}/resolve", json={}, headers=H)
    assert empty.status_code == 422
    assert error_of(empty)["field"] == "note"
    open_now = (await client.get("/v1/admin/errors?status=open", headers=H)).json()["errors"]
    assert open_now == []
    audit = (await client.get("/v1/admin/audit", headers=H)).json()["entries"]
    assert [(e["action"], e["target"], e["reason"]) for e in audit] == [
        ("dead_letter.resolve", letter_id, "fixed in 1.2.3")
    ]


async def test_replay_enqueues_once_and_is_audited_once(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    letter_id = await _letter(clean)
    first = await client.post(
        f"/v1/admin/errors/{letter_id}/replay", json={"reason": "caller id fixed"}, headers=H
    )
    assert first.status_code == 200
    assert (first.json()["status"], first.json()["enqueued"]) == ("replayed", True)
    assert first.json()["replay_job_key"] == f"deadletter.replay:{letter_id}"
    second = await client.post(f"/v1/admin/errors/{letter_id}/replay", headers=H)
    assert (second.json()["status"], second.json()["enqueued"]) == ("replayed", False)
    assert (await clean.queues.depth())["high"] == 1
    job = await clean.queues["high"].job(f"deadletter.replay:{letter_id}")
    assert job is not None
    assert job.function == "dialer.dial"
    conflict = await client.post(
        f"/v1/admin/errors/{letter_id}/resolve", json={"note": "x"}, headers=H
    )
    assert conflict.status_code == 409
    assert error_of(conflict)["code"] == "dead_letter_replayed"
    audit = (await client.get("/v1/admin/audit", headers=H)).json()["entries"]
    assert [(e["action"], e["reason"]) for e in audit] == [
        ("dead_letter.replay", "caller id fixed")
    ]


@pytest.mark.parametrize("action", ["resolve", "replay"])
@pytest.mark.parametrize("letter_id", [str(uuid.UUID(int=7)), "not-a-uuid"])
async def test_unknown_dead_letters_are_404(
    client: httpx.AsyncClient, action: str, letter_id: str
) -> None:
    body = {"note": "x"} if action == "resolve" else {"reason": "x"}
    response = await client.post(f"/v1/admin/errors/{letter_id}/{action}", json=body, headers=H)
    assert response.status_code == 404
    assert error_of(response)["code"] == "dead_letter_not_found"


async def test_escalations_are_listed_with_their_deliveries(
    client: httpx.AsyncClient, clean: AppState
) -> None:
    async with session_scope(clean.sessions) as session:
        await raise_escalation(
            session,
            state=clean,
            severity="critical",
            fingerprint="task:dialer.dial:twilio.20003",
            title="credentials refused",
            detail={"code": "twilio.20003"},
            tenant_id=None,
        )
    listed = (await client.get("/v1/admin/escalations", headers=H)).json()["escalations"]
    assert [(e["severity"], e["occurrences"], e["deliveries"]) for e in listed] == [
        ("critical", 1, [])
    ]
