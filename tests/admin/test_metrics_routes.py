"""The six admin metrics and the Prometheus gauges, read from real PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from typing import Any

import httpx
import pytest

from leadwire import worker as worker_module
from leadwire.admin import stats
from leadwire.leads.models import Lead
from leadwire.platform import deadletters, flags, opsstats
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.helpers import admin_headers, error_of, make_tenant

H = admin_headers()


async def _leads(state: AppState, tenant: Tenant, rows: list[tuple[str, str, str, int]]) -> None:
    """(source, status, priority, minutes ago) per lead."""
    now = utcnow()
    async with session_scope(state.sessions) as session:
        for source, status, priority, ago in rows:
            session.add(
                Lead(
                    id=uuid.uuid4(),
                    tenant_id=tenant.id,
                    source=source,
                    dedupe_key=uuid.uuid4().hex,
                    status=status,
                    priority=priority,
                    reject_reason="invalid_phone" if status == "rejected" else None,
                    received_at=now - dt.timedelta(minutes=ago, seconds=1),
                )
            )


@pytest.fixture
async def seeded(clean: AppState) -> dict[str, Tenant]:
    acme, _ = await make_tenant(clean, slug="acme")
    beta, _ = await make_tenant(clean, slug="beta")
    await _leads(
        clean,
        acme,
        [
            ("meta", "dialing", "high", 1),
            ("meta", "closed", "high", 2),
            ("form", "rejected", "low", 3),
            ("hubspot", "scheduled", "medium", 90),  # outside a 1 h window
        ],
    )
    await _leads(clean, beta, [("zapier", "dialing", "emergency", 0)])
    now = time.time()
    for tenant, priority, seconds in ((acme, "high", 4.0), (acme, "high", 8.0), (beta, "low", 2.0)):
        await opsstats.record_dial(
            clean.redis,
            clean.metrics,
            priority=priority,
            received_to_dial_s=seconds,
            tenant_id=str(tenant.id),
        )
    await opsstats.record_answer(clean.redis, received_to_answer_s=20.0, tenant_id=str(acme.id))
    await opsstats.record_call_outcome(clean.redis, outcome="answered", tenant_id=str(acme.id))
    await opsstats.incr(clean.redis, opsstats.ERRORS, "rate_limit", tenant_id=str(acme.id))
    await opsstats.incr(clean.redis, opsstats.ERRORS, "temporary", n=2, at=now - 120)
    async with session_scope(clean.sessions) as session:
        await deadletters.record(
            session,
            task="leads.process",
            queue="intake",
            kwargs={},
            error_class="external",
            code="meta.http_500",
            message="x",
            attempts=4,
            tenant_id=acme.id,
            context={},
        )
        await flags.set_emergency(
            session, reason="drill", actor="bootstrap", duration_s=None, hangup_active=False
        )
        await flags.pause_queue(session, priority="low", actor="bootstrap", reason=None)
    await clean.redis.hset(stats.HEARTBEAT_KEY, "host:1", str(now - 2))  # type: ignore[misc]
    await clean.redis.hset(stats.HEARTBEAT_KEY, "host:2", str(now - 300))  # type: ignore[misc]
    await clean.queues.enqueue("high", "dialer.dial", job_key="j1", lead_id="1")
    later = utcnow() + dt.timedelta(minutes=5)
    await clean.queues.enqueue("low", "dialer.dial", job_key="j2", run_at=later, lead_id="2")
    return {"acme": acme, "beta": beta}


async def _metric(client: httpx.AsyncClient, name: str, query: str = "") -> dict[str, Any]:
    response = await client.get(f"/v1/admin/metrics/{name}{query}", headers=H)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["name"] == name
    return body


async def test_lead_stats_counts_the_window_by_status_source_and_minute(
    client: httpx.AsyncClient, seeded: dict[str, Tenant]
) -> None:
    body = await _metric(client, "lead-stats", "?window=1h")
    assert (body["window"], body["tenant"], body["received"]) == ("1h", None, 4)
    assert body["by_source"] == {"form": 1, "meta": 2, "zapier": 1}
    assert body["by_status"] == {"closed": 1, "dialing": 2, "rejected": 1}
    assert body["rejected_by_reason"] == {"invalid_phone": 1}
    assert body["bucket_minutes"] == 1
    assert len(body["intake"]) == 60
    assert sum(sum(p["by_source"].values()) for p in body["intake"]) == 4
    acme = await _metric(client, "lead-stats", "?window=24h&tenant=acme")
    assert (acme["tenant"], acme["received"], acme["bucket_minutes"]) == ("acme", 4, 24)
    assert len(acme["intake"]) == 60


async def test_queue_status_reports_depth_pauses_and_backlog(
    client: httpx.AsyncClient, seeded: dict[str, Tenant]
) -> None:
    body = await _metric(client, "queue-status")
    assert body["queues"]["high"] == {
        "queued": 1,
        "active": 0,
        "scheduled": 0,
        "incomplete": 1,
        "paused": False,
    }
    assert body["queues"]["low"]["scheduled"] == 1
    assert body["queues"]["low"]["paused"] is True
    assert "paused" not in body["queues"]["intake"]
    assert body["paused"] == ["low"]
    assert body["backlog"]["by_status"] == {"dialing": 2, "scheduled": 1}
    beta = await _metric(client, "queue-status", "?tenant=beta")
    assert beta["backlog"]["by_priority"] == {"emergency": 1}


async def test_call_stats_reports_dials_outcomes_and_speed_to_lead(
    client: httpx.AsyncClient, seeded: dict[str, Tenant]
) -> None:
    body = await _metric(client, "call-stats", "?window=15m")
    assert body["active_calls"] == 2
    assert body["dials"] == {"total": 3, "by_priority": {"high": 2, "low": 1}}
    assert body["outcomes"] == {"answered": 1}
    assert body["speed_to_lead"]["to_dial"] == {"count": 3, "p50": 4.0, "p95": 7.6}
    assert body["speed_to_lead"]["to_answer"] == {"count": 1, "p50": 20.0, "p95": 20.0}
    assert len(body["series"]) == 15
    assert body["series"][-1]["dials"] == 3
    acme = await _metric(client, "call-stats", "?tenant=acme")
    assert acme["active_calls"] == 1
    assert acme["dials"]["total"] == 2
    assert acme["speed_to_lead"]["to_dial"]["p50"] == 6.0


async def test_error_stats_reports_classes_and_dead_letters(
    client: httpx.AsyncClient, seeded: dict[str, Tenant]
) -> None:
    body = await _metric(client, "error-stats", "?window=15m")
    assert body["by_class"] == {"rate_limit": 1, "temporary": 2}
    assert body["dead_letters"]["open"] == 1
    assert body["dead_letters"]["created_in_window"]["open"] == {"external": 1}
    assert sum(sum(p["counts"].values()) for p in body["series"]) == 3
    acme = await _metric(client, "error-stats", "?tenant=acme")
    assert acme["by_class"] == {"rate_limit": 1}
    beta = await _metric(client, "error-stats", "?tenant=beta")
    assert (beta["by_class"], beta["dead_letters"]["open"]) == ({}, 0)


async def test_rate_limits_reports_each_tenants_limits_and_usage(
    client: httpx.AsyncClient, seeded: dict[str, Tenant]
) -> None:
    body = await _metric(client, "rate-limits")
    assert body["platform"]["ip_per_minute"] == 600
    assert body["platform"]["rate_limited"] == 1
    by_slug = {t["slug"]: t for t in body["tenants"]}
    assert by_slug["acme"]["limits"]["calls_per_minute"] == 10
    assert by_slug["acme"]["usage"] == {"leads": 3, "dials": 2}
    assert by_slug["acme"]["rate_limited"] == 1
    assert by_slug["beta"]["usage"] == {"leads": 1, "dials": 1}
    only = await _metric(client, "rate-limits", "?tenant=beta")
    assert [t["slug"] for t in only["tenants"]] == ["beta"]


async def test_system_health_reports_servers_workers_and_switches(
    client: httpx.AsyncClient, seeded: dict[str, Tenant]
) -> None:
    body = await _metric(client, "system-health")
    assert body["postgresql"]["status"] == "ok"
    assert body["redis"]["status"] == "ok"
    assert [(w["name"], w["alive"]) for w in body["workers"]] == [
        ("host:1", True),
        ("host:2", False),
    ]
    assert body["workers_alive"] == 1
    assert body["status"] == "ok"
    assert (body["emergency"]["active"], body["emergency"]["reason"]) == (True, "drill")
    assert body["paused_queues"] == ["low"]
    assert body["paused_tenants"] == []
    # No registry loaded in this test: nothing is stale, and the health says the registry is absent.
    assert body["dnc"]["national_registry_loaded"] is False
    assert body["dnc"]["stale"] is False
    assert body["dnc"]["max_age_days"] == 31


async def test_system_health_is_degraded_without_live_workers(client: httpx.AsyncClient) -> None:
    body = await _metric(client, "system-health")
    assert (body["workers"], body["status"]) == ([], "degraded")
    assert body["emergency"] == {"active": False}


@pytest.mark.parametrize(
    ("path", "status", "code", "field"),
    [
        ("/v1/admin/metrics/nope", 404, "unknown_metric", None),
        ("/v1/admin/metrics/lead-stats?window=2w", 422, "invalid_payload", "window"),
        ("/v1/admin/metrics/lead-stats?window=25h", 422, "invalid_payload", "window"),
        ("/v1/admin/metrics/lead-stats?window=30s", 422, "invalid_payload", "window"),
        ("/v1/admin/metrics/lead-stats?tenant=nobody", 404, "unknown_tenant", None),
    ],
)
async def test_bad_metric_requests(
    client: httpx.AsyncClient, path: str, status: int, code: str, field: str | None
) -> None:
    response = await client.get(path, headers=H)
    assert response.status_code == status
    error = error_of(response)
    assert (error["code"], error.get("field")) == (code, field)


async def test_prometheus_gauges_are_read_from_shared_state_at_scrape(
    client: httpx.AsyncClient, seeded: dict[str, Tenant]
) -> None:
    text = (await client.get("/metrics")).text
    for line in (
        'leadwire_queue_depth{queue="high",state="queued"} 1.0',
        'leadwire_queue_depth{queue="low",state="scheduled"} 1.0',
        "leadwire_active_calls 2.0",
        'leadwire_dead_letters_open{error_class="external"} 1.0',
        'leadwire_dead_letters_open{error_class="system"} 0.0',
        'leadwire_dead_letters_total{error_class="external"} 1.0',
        'leadwire_dead_letters_total{error_class="consent"} 0.0',
        "leadwire_emergency_mode 1.0",
        'leadwire_queue_paused{queue="low"} 1.0',
        'leadwire_queue_paused{queue="high"} 0.0',
        "leadwire_workers_alive 1.0",
        "leadwire_tenants_paused 0.0",
    ):
        assert line in text, line
    # the dialer's histogram (per process, so earlier tests' dials are in it too)
    [count] = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('leadwire_speed_to_lead_seconds_count{priority="high"}')
    ]
    assert count >= 2


def test_the_heartbeat_hash_is_the_workers() -> None:
    assert stats.HEARTBEAT_KEY == worker_module.HEARTBEAT_KEY


@pytest.mark.parametrize(
    ("window", "minutes", "points"),
    [("1m", 1, 1), ("15m", 1, 15), ("1h", 1, 60), ("6h", 6, 60), ("24h", 24, 60), ("90m", 2, 45)],
)
def test_series_have_at_most_sixty_points(window: str, minutes: int, points: int) -> None:
    parsed = opsstats.parse_window(window)
    assert stats.bucket_minutes(parsed) == minutes
    all_minutes = opsstats.minutes_in(parsed, now=time.time())
    assert len(stats._group(all_minutes, minutes)) == points
