"""The six admin metrics (`GET /v1/admin/metrics/{name}`), computed from the sources of truth.

Leads come from PostgreSQL (the lead store), queue depths and worker heartbeats from Redis,
switches from `platform.flags`, and the per-minute figures every process contributes (errors,
dials, speed to lead) from `platform.opsstats`. Each answer names its window and tenant; a
series is bucketed so it has at most `MAX_POINTS` points.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.admin.controls import paused_tenants, queues_view
from leadwire.compliance import service as compliance_service
from leadwire.leads.models import Lead, LeadStatus
from leadwire.platform import deadletters, flags, opsstats
from leadwire.platform.db import utcnow
from leadwire.platform.queues import DIAL_QUEUES, QUEUE_NAMES
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from leadwire.tenants.settings_schema import Limits

MAX_POINTS = 60
# A worker that has not beaten for this long is reported dead (it beats every 10 s).
WORKER_STALE_S = 35.0
HEARTBEAT_KEY = "leadwire:workers:heartbeat"  # the hash leadwire.worker.heartbeat writes
PENDING_STATUSES = (
    LeadStatus.PENDING_FETCH,
    LeadStatus.ACCEPTED,
    LeadStatus.READY,
    LeadStatus.SCHEDULED,
    LeadStatus.DIALING,
)


@dataclass(frozen=True)
class MetricQuery:
    window: dt.timedelta
    window_text: str
    tenant: Tenant | None
    now: dt.datetime

    @property
    def since(self) -> dt.datetime:
        return self.now - self.window

    @property
    def tenant_id(self) -> uuid.UUID | None:
        return self.tenant.id if self.tenant else None

    @property
    def tenant_key(self) -> str | None:
        return str(self.tenant.id) if self.tenant else None

    def header(self, name: str) -> dict[str, Any]:
        return {
            "name": name,
            "window": self.window_text,
            "tenant": self.tenant.slug if self.tenant else None,
            "at": self.now.isoformat(),
        }


def bucket_minutes(window: dt.timedelta) -> int:
    """Minutes per point so a window has at most MAX_POINTS points."""
    return max(1, math.ceil(window.total_seconds() / 60 / MAX_POINTS))


def _iso_minute(minute: int) -> str:
    return dt.datetime.fromtimestamp(minute * 60, dt.UTC).isoformat()


def _bucketed_minutes(query: MetricQuery) -> tuple[list[int], int]:
    minutes = opsstats.minutes_in(query.window, now=query.now.timestamp())
    return minutes, bucket_minutes(query.window)


def _group(minutes: list[int], size: int) -> list[list[int]]:
    # Align buckets to the newest minute so the last point is always the current one.
    groups: list[list[int]] = []
    for end in range(len(minutes), 0, -size):
        groups.append(minutes[max(0, end - size) : end])
    return groups[::-1]


def _counts_series(
    per_minute: Mapping[int, Mapping[str, int]], minutes: list[int], size: int
) -> list[dict[str, Any]]:
    points = []
    for group in _group(minutes, size):
        points.append(
            {
                "at": _iso_minute(group[0]),
                "counts": opsstats.totals({m: per_minute[m] for m in group}),
            }
        )
    return points


# ---- lead-stats ---------------------------------------------------------------------------------


def _lead_filter(query: MetricQuery) -> list[Any]:
    conditions: list[Any] = [Lead.received_at >= query.since]
    if query.tenant_id is not None:
        conditions.append(Lead.tenant_id == query.tenant_id)
    return conditions


async def _grouped(session: AsyncSession, column: Any, conditions: list[Any]) -> dict[str, int]:
    rows = await session.execute(
        select(column, func.count()).where(*conditions).group_by(column).order_by(column)
    )
    return {str(key): int(count) for key, count in rows.all() if key is not None}


async def intake_per_bucket(session: AsyncSession, query: MetricQuery) -> list[dict[str, Any]]:
    """Leads received per bucket and source, oldest first, empty buckets included."""
    minutes, size = _bucketed_minutes(query)
    groups = _group(minutes, size)
    start_of = {m: g[0] for g in groups for m in g}
    counted: dict[int, dict[str, int]] = {g[0]: {} for g in groups}
    minute = func.floor(func.extract("epoch", Lead.received_at) / 60)
    rows = await session.execute(
        select(minute, Lead.source, func.count())
        .where(*_lead_filter(query))
        .group_by(minute, Lead.source)
    )
    for at_minute, source, count in rows.all():
        start = start_of.get(int(at_minute))
        if start is not None:
            counted[start][source] = counted[start].get(source, 0) + int(count)
    return [{"at": _iso_minute(start), "by_source": counted[start]} for start in counted]


async def lead_stats(state: AppState, query: MetricQuery) -> dict[str, Any]:
    async with state.sessions() as session:
        conditions = _lead_filter(query)
        by_status = await _grouped(session, Lead.status, conditions)
        by_source = await _grouped(session, Lead.source, conditions)
        by_priority = await _grouped(session, Lead.priority, conditions)
        rejected = await _grouped(
            session, Lead.reject_reason, [*conditions, Lead.status == LeadStatus.REJECTED]
        )
        series = await intake_per_bucket(session, query)
    return {
        **query.header("lead-stats"),
        "received": sum(by_status.values()),
        "by_status": by_status,
        "by_source": by_source,
        "by_priority": by_priority,
        "rejected_by_reason": rejected,
        "bucket_minutes": bucket_minutes(query.window),
        "intake": series,
    }


# ---- queue-status -------------------------------------------------------------------------------


async def queue_depths(state: AppState) -> dict[str, dict[str, int]]:
    """queued (ready now), active (running), scheduled (waiting for their time) per queue."""
    redis = state.redis
    names = [state.queues[name] for name in QUEUE_NAMES]
    async with redis.pipeline(transaction=False) as pipe:
        for queue in names:
            pipe.llen(queue._queued)
            pipe.llen(queue._active)
            pipe.zcard(queue._incomplete)
        raw = await pipe.execute()
    out: dict[str, dict[str, int]] = {}
    for i, name in enumerate(QUEUE_NAMES):
        queued, active, incomplete = (int(v) for v in raw[i * 3 : i * 3 + 3])
        out[name] = {
            "queued": queued,
            "active": active,
            "scheduled": max(0, incomplete - queued - active),
            "incomplete": incomplete,
        }
    return out


async def queue_status(state: AppState, query: MetricQuery) -> dict[str, Any]:
    depths = await queue_depths(state)
    async with state.sessions() as session:
        paused = await flags.read_flags(session)
        conditions: list[Any] = [Lead.status.in_([s.value for s in PENDING_STATUSES])]
        if query.tenant_id is not None:
            conditions.append(Lead.tenant_id == query.tenant_id)
        backlog_status = await _grouped(session, Lead.status, conditions)
        backlog_priority = await _grouped(session, Lead.priority, conditions)
    view = queues_view(paused.paused_queues)
    for name, depth in depths.items():
        depth_view: dict[str, Any] = dict(depth)
        if name in DIAL_QUEUES:
            depth_view["paused"] = view["queues"][name]["paused"]
        depths[name] = depth_view
    return {
        **query.header("queue-status"),
        "queues": depths,
        "paused": view["paused"],
        "backlog": {"by_status": backlog_status, "by_priority": backlog_priority},
    }


# ---- error-stats --------------------------------------------------------------------------------


async def error_stats(state: AppState, query: MetricQuery) -> dict[str, Any]:
    minutes, size = _bucketed_minutes(query)
    per_minute = await opsstats.counts(
        state.redis, opsstats.ERRORS, minutes=minutes, tenant_id=query.tenant_key
    )
    async with state.sessions() as session:
        letters = await deadletters.count_by(session, since=query.since, tenant_id=query.tenant_id)
        open_total = sum(
            (await deadletters.count_by(session, tenant_id=query.tenant_id))["open"].values()
        )
    return {
        **query.header("error-stats"),
        "by_class": opsstats.totals(per_minute),
        "bucket_minutes": size,
        "series": _counts_series(per_minute, minutes, size),
        "dead_letters": {"open": open_total, "created_in_window": letters},
    }


# ---- call-stats ---------------------------------------------------------------------------------


async def active_calls(session: AsyncSession, *, tenant_id: uuid.UUID | None = None) -> int:
    """Leads with a call being placed or live (status `dialing`)."""
    query = select(func.count()).select_from(Lead).where(Lead.status == LeadStatus.DIALING)
    if tenant_id is not None:
        query = query.where(Lead.tenant_id == tenant_id)
    return int((await session.execute(query)).scalar_one())


async def call_stats(state: AppState, query: MetricQuery) -> dict[str, Any]:
    minutes, size = _bucketed_minutes(query)
    tenant = query.tenant_key
    dials, outcomes, to_dial, to_answer = await asyncio.gather(
        opsstats.counts(state.redis, opsstats.DIALS, minutes=minutes, tenant_id=tenant),
        opsstats.counts(state.redis, opsstats.CALL_OUTCOMES, minutes=minutes, tenant_id=tenant),
        opsstats.samples(state.redis, opsstats.SPEED_TO_DIAL, minutes=minutes, tenant_id=tenant),
        opsstats.samples(state.redis, opsstats.SPEED_TO_ANSWER, minutes=minutes, tenant_id=tenant),
    )
    async with state.sessions() as session:
        active = await active_calls(session, tenant_id=query.tenant_id)
    series = []
    for group in _group(minutes, size):
        dial_samples = [v for m in group for v in to_dial[m]]
        answer_samples = [v for m in group for v in to_answer[m]]
        series.append(
            {
                "at": _iso_minute(group[0]),
                "dials": sum(sum(dials[m].values()) for m in group),
                "to_dial": opsstats.quantiles(dial_samples).to_json(),
                "to_answer": opsstats.quantiles(answer_samples).to_json(),
            }
        )
    dial_totals = opsstats.totals(dials)
    return {
        **query.header("call-stats"),
        "active_calls": active,
        "dials": {"total": sum(dial_totals.values()), "by_priority": dial_totals},
        "outcomes": opsstats.totals(outcomes),
        "speed_to_lead": {
            "to_dial": opsstats.quantiles(v for m in minutes for v in to_dial[m]).to_json(),
            "to_answer": opsstats.quantiles(v for m in minutes for v in to_answer[m]).to_json(),
        },
        "bucket_minutes": size,
        "series": series,
    }


# ---- rate-limits --------------------------------------------------------------------------------


async def rate_limits(state: AppState, query: MetricQuery) -> dict[str, Any]:
    minutes, _ = _bucketed_minutes(query)
    async with state.sessions() as session:
        if query.tenant is not None:
            tenants = [query.tenant]
        else:
            tenants = list(
                (await session.execute(select(Tenant).order_by(Tenant.slug).limit(500)))
                .scalars()
                .all()
            )
        counted = await session.execute(
            select(Lead.tenant_id, func.count())
            .where(*_lead_filter(query))
            .group_by(Lead.tenant_id)
        )
        leads = {tenant_id: int(count) for tenant_id, count in counted.all()}
    rows = []
    for tenant in tenants:
        key = str(tenant.id)
        errors = await opsstats.counts(state.redis, opsstats.ERRORS, minutes=minutes, tenant_id=key)
        dials = await opsstats.counts(state.redis, opsstats.DIALS, minutes=minutes, tenant_id=key)
        limits = Limits.model_validate((tenant.settings or {}).get("limits") or {})
        rows.append(
            {
                "slug": tenant.slug,
                "limits": limits.model_dump(),
                "usage": {
                    "leads": int(leads.get(tenant.id, 0)),
                    "dials": sum(opsstats.totals(dials).values()),
                },
                "rate_limited": opsstats.totals(errors).get("rate_limit", 0),
            }
        )
    platform_errors = await opsstats.counts(state.redis, opsstats.ERRORS, minutes=minutes)
    return {
        **query.header("rate-limits"),
        "platform": {
            "ip_per_minute": state.settings.ip_rate_limit_per_minute,
            "tenant_flood_per_minute": state.settings.tenant_flood_per_minute,
            "rate_limited": opsstats.totals(platform_errors).get("rate_limit", 0),
        },
        "tenants": rows,
    }


# ---- system-health ------------------------------------------------------------------------------


async def _timed(check: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(2):
            await check()
    except Exception as exc:
        return {"status": "unavailable", "error": type(exc).__name__}
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


async def worker_heartbeats(state: AppState, *, now: float | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    raw = await state.redis.hgetall(HEARTBEAT_KEY)  # type: ignore[misc]
    workers = []
    for name, seen in sorted(raw.items()):
        seen_at = float(seen)
        age = max(0.0, now - seen_at)
        workers.append(
            {
                "name": name.decode() if isinstance(name, bytes) else name,
                "last_seen": dt.datetime.fromtimestamp(seen_at, dt.UTC).isoformat(),
                "age_s": round(age, 1),
                "alive": age <= WORKER_STALE_S,
            }
        )
    return workers


async def dnc_health(state: AppState) -> Any:
    """Age and freshness of the shared Do-Not-Call lists (stale past 31 days)."""
    try:
        async with state.sessions() as session:
            return await compliance_service.dnc_health(session, now=utcnow())
    except Exception as exc:  # health reporting must not fail the whole endpoint
        return {"status": "error", "error": type(exc).__name__}


async def system_health(state: AppState, query: MetricQuery) -> dict[str, Any]:
    async def database() -> None:
        async with state.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")

    async def cache() -> None:
        await state.redis.ping()  # type: ignore[misc]

    postgresql, redis = await asyncio.gather(_timed(database), _timed(cache))
    workers: list[dict[str, Any]] = []
    emergency: dict[str, Any] = {"active": None}
    paused: list[str] = []
    tenants_paused: list[dict[str, Any]] = []
    if redis["status"] == "ok":
        workers = await worker_heartbeats(state)
    if postgresql["status"] == "ok":
        async with state.sessions() as session:
            current = await flags.read_flags(session)
            tenants_paused = await paused_tenants(session)
        emergency = current.emergency.to_json() if current.emergency else {"active": False}
        paused = sorted(current.paused_queues)
    alive = sum(1 for w in workers if w["alive"])
    servers_ok = postgresql["status"] == "ok" and redis["status"] == "ok"
    return {
        **query.header("system-health"),
        "status": "ok" if servers_ok and alive > 0 else "degraded",
        "postgresql": postgresql,
        "redis": redis,
        "workers": workers,
        "workers_alive": alive,
        "emergency": emergency,
        "paused_queues": paused,
        "paused_tenants": tenants_paused,
        "dnc": await dnc_health(state) if postgresql["status"] == "ok" else None,
    }


METRICS: dict[str, Callable[[AppState, MetricQuery], Awaitable[dict[str, Any]]]] = {
    "queue-status": queue_status,
    "rate-limits": rate_limits,
    "error-stats": error_stats,
    "lead-stats": lead_stats,
    "call-stats": call_stats,
    "system-health": system_health,
}


def make_query(
    *, window: dt.timedelta, window_text: str, tenant: Tenant | None, now: dt.datetime | None = None
) -> MetricQuery:
    return MetricQuery(window=window, window_text=window_text, tenant=tenant, now=now or utcnow())
