"""`leadwire simulate`: N leads from every source through the whole platform, then a report.

It starts a complete, throw-away platform (embedded PostgreSQL and Valkey in a temporary
folder, or the servers named by LEADWIRE_DATABASE_URL / LEADWIRE_REDIS_URL), the API and the
workers as real processes with the simulated carrier, and fakes of Meta's Graph API and
HubSpot's CRM. It posts every lead over HTTP as its source really sends it, redelivers some,
waits until every acknowledged lead reaches a final state, and reconciles: `lost` counts
acknowledged leads that are missing or stuck.

Time is compressed twice: the carrier plays calls at LEADWIRE_SIMULATOR_TIME_SCALE of real
time, and the gate judges calling windows at a weekday afternoon in the US
(LEADWIRE_SIMULATOR_CLOCK_OFFSET_S, simulated carrier only), so a run at 3 a.m. still dials.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from sqlalchemy import text

from leadwire.platform import db
from leadwire.platform.embedded import EmbeddedServers
from leadwire.platform.security import SecretBox
from leadwire.platform.settings import load_settings
from leadwire.simulate.deliveries import (
    TenantCreds,
    delivery,
    graph_answer,
    hubspot_answer,
)
from leadwire.simulate.fakes import fake_apis
from leadwire.simulate.population import CONSENT_TEXT, SimLead, population
from leadwire.tenants import service as tenants

FINAL = ("closed", "blocked", "rejected")
# The intake workers' CPU priority: below the API, the dialer and the servers, as separate
# deployments with their own CPU requests would be; a flood of ordinary leads then slows only
# the ordinary leads.
INTAKE_NICE = 10
WORKING = ("pending_fetch", "accepted", "ready", "dialing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gate_clock_offset(now: dt.datetime) -> float:
    """Seconds from now to the next Tuesday-Thursday 14:00 in Chicago (15:00 New York,
    12:00 Los Angeles, 10:00 Honolulu): open everywhere in the US, not a holiday. Always
    forward, so consent given "now" is in the gate's past."""
    import holidays

    chicago = ZoneInfo("America/Chicago")
    local = now.astimezone(chicago)
    us_holidays = holidays.country_holidays("US", years=[local.year, local.year + 1])
    for days in range(8):
        day = (local + dt.timedelta(days=days)).date()
        target = dt.datetime.combine(day, dt.time(14, 0), tzinfo=chicago)
        if day.weekday() in (1, 2, 3) and day not in us_holidays and target >= now:
            return (target - now).total_seconds()
    return 0.0


def _tenant_settings(t: int, creds: TenantCreds) -> dict[str, Any]:
    return {
        "timezone": "America/Chicago",
        "sources": {
            "meta": {
                "page_ids": [creds.meta_page_id],
                "page_access_token": f"EAAG-sim-{t}",
                "app_secret": creds.meta_app_secret,
            },
            "hubspot": {
                "portal_id": creds.hubspot_portal_id,
                "access_token": f"pat-sim-{t}",
                "client_secret": creds.hubspot_client_secret,
            },
            "salesforce": {"organization_id": creds.salesforce_org_id},
            "google_ads": {"google_key": creds.google_key},
            "zapier": {"secret": creds.zapier_secret},
            "form": {"secret": creds.form_secret},
        },
        "limits": {
            "calls_per_minute": 600,
            "calls_per_hour": 20_000,
            "calls_per_day": 100_000,
            "concurrent_calls": 50,
            "daily_budget_usd": 100_000.0,
        },
        # Compressed like the carrier's timing (the contract defaults are 0/30/300/1800 s).
        "dial_delays_s": {"emergency": 0, "high": 1, "medium": 3, "low": 5},
        "calling_hours": {
            "start": "08:00",
            "end": "21:00",
            "days": ["mon", "tue", "wed", "thu", "fri", "sat"],
        },
        "caller_ids": [f"+1512867{5300 + t:04d}", f"+1212736{5300 + t:04d}"],
        "consent": {"required": True, "language": CONSENT_TEXT.format(seller=creds.business_name)},
        "agent": {
            "business_name": creds.business_name,
            "transfer_number": "+15128675309",
            "script": "Ask what service they need, how urgent it is, the address and a good time.",
        },
    }


class Progress:
    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled

    def show(self, label: str, done: int) -> None:
        if not self.enabled:
            return
        width = 30
        filled = int(width * done / max(1, self.total))
        sys.stderr.write(
            f"\r{label:<10} [{'#' * filled}{'.' * (width - filled)}] {done}/{self.total}"
        )
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


async def run_simulation(
    *,
    leads: int,
    tenants_n: int,
    seed: int,
    time_scale: float = 0.02,
    workers: int = 2,
    timeout_s: float = 600.0,
    show_progress: bool = True,
    real_clock: bool = False,
    cps: float = 30.0,
) -> dict[str, Any]:
    started = time.monotonic()
    folder = Path(tempfile.mkdtemp(prefix="leadwire-sim-"))
    base = load_settings()
    servers: EmbeddedServers | None = None
    processes: dict[str, subprocess.Popen[bytes]] = {}
    fake_server: uvicorn.Server | None = None
    fake_task: asyncio.Task[None] | None = None
    try:
        if base.database_url is None or base.redis_url is None:
            servers = EmbeddedServers(folder, persist_redis=False)
            servers.start(postgres=base.database_url is None, redis=base.redis_url is None)
        database_url = base.database_url or (servers.postgres.url if servers else "")
        redis_url = base.redis_url or (servers.valkey.url if servers else "")

        people = population(leads, tenants=tenants_n, seed=seed)
        api_port, fake_port = _free_port(), _free_port()
        public_url = f"http://127.0.0.1:{api_port}"
        now = dt.datetime.now(dt.UTC)
        offset = 0.0 if real_clock else gate_clock_offset(now)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEADWIRE_")}
        env.update(
            {
                "LEADWIRE_DATABASE_URL": database_url,
                "LEADWIRE_REDIS_URL": redis_url,
                "LEADWIRE_SECRET_KEY": secrets.token_urlsafe(40),
                "LEADWIRE_ADMIN_TOKEN": "sim-" + secrets.token_urlsafe(24),
                "LEADWIRE_PUBLIC_URL": public_url,
                "LEADWIRE_TELEPHONY": "simulated",
                "LEADWIRE_SIMULATOR_TIME_SCALE": str(time_scale),
                "LEADWIRE_SIMULATOR_CLOCK_OFFSET_S": str(round(offset)),
                "LEADWIRE_SIMULATOR_SEED": str(seed),
                "LEADWIRE_META_GRAPH_BASE": f"http://127.0.0.1:{fake_port}",
                "LEADWIRE_HUBSPOT_API_BASE": f"http://127.0.0.1:{fake_port}",
                "LEADWIRE_TENANT_FLOOD_PER_MINUTE": "1000000",
                "LEADWIRE_IP_RATE_LIMIT_PER_MINUTE": "1000000",
                "LEADWIRE_LOG_LEVEL": "WARNING",
                # One Twilio account's calls per second; the default (1) is a new account's.
                "LEADWIRE_TWILIO_CPS": str(cps),
                "LEADWIRE_DATA_DIR": str(folder),
            }
        )
        os.environ.update({k: v for k, v in env.items() if k.startswith("LEADWIRE_")})
        settings = load_settings()

        engine = db.create_engine(database_url, pool_size=5)
        await db.migrate(engine)
        creds_by_tenant = await _make_tenants(engine, settings.fernet_key, tenants_n, seed)

        by_leadgen = {f"9{p.index:014d}": p for p in people if p.source == "meta"}
        graph = {
            k: graph_answer(p, creds_by_tenant[p.tenant].business_name)
            for k, p in by_leadgen.items()
        }
        hub = {str(500_000 + p.index): hubspot_answer(p) for p in people if p.source == "hubspot"}
        fake_server = uvicorn.Server(
            uvicorn.Config(
                fake_apis(graph, hub),
                host="127.0.0.1",
                port=fake_port,
                log_config=None,
                access_log=False,
                lifespan="off",
            )
        )
        fake_task = asyncio.create_task(fake_server.serve())

        me = [sys.executable, "-m", "leadwire.cli"]
        log = (folder / "platform.log").open("ab")
        # The roles of a production deployment: the dialer apart from the bulk of intake, whose
        # processes yield the CPU to everything else (see `INTAKE_NICE`); the fetches of
        # ids-only deliveries, whose urgency is unknown until fetched, at normal priority.
        commands = {
            "api": [*me, "serve", "--port", str(api_port)],
            "dialer": [*me, "worker", "--role", "dialer", "--concurrency", "20"],
            "fetch": [*me, "worker", "--role", "fetch", "--concurrency", "20"],
            **{
                f"intake-{i + 1}": [*me, "worker", "--role", "bulk", "--concurrency", "8"]
                for i in range(workers)
            },
            "scheduler": [*me, "worker", "--role", "scheduler"],
        }
        for name, command in commands.items():
            proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603, ASYNC220 - start-up only
            if name.startswith("intake-"):
                os.setpriority(os.PRIO_PROCESS, proc.pid, INTAKE_NICE)
            processes[name] = proc
        async with httpx.AsyncClient(base_url=public_url, timeout=30) as client:
            await _wait_ready(client, list(processes.values()))
            await _load_dnc(client, people, creds_by_tenant)
            progress = Progress(len(people), show_progress)
            acks = await _post_all(client, people, creds_by_tenant, public_url, progress)
            progress.end()
            posted_at = time.monotonic()
            await _wait_final(engine, acks, timeout_s=timeout_s, progress=progress)
            drained_s = time.monotonic() - posted_at
        report = await _report(engine, people, acks, creds_by_tenant, settings_offset=offset)
        report["cpu_s"] = _cpu_seconds(
            {
                **{name: proc.pid for name, proc in processes.items()},
                "postgres": servers.postgres.pid if servers else None,
                "valkey": servers.valkey.pid if servers else None,
            }
        )
        own = os.times()
        report["cpu_s"]["simulator (posting, fake APIs)"] = round(own.user + own.system, 1)
        report["timing"] = {
            "total_s": round(time.monotonic() - started, 1),
            "after_last_post_s": round(drained_s, 1),
            "carrier_time_scale": time_scale,
            "gate_clock": (now + dt.timedelta(seconds=offset)).isoformat(timespec="seconds"),
        }
        await engine.dispose()
        return report
    finally:
        for proc in processes.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in processes.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if fake_server is not None and fake_task is not None:
            fake_server.should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(fake_task, 5)
        if servers is not None:
            servers.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def _make_tenants(
    engine: Any, fernet_key: bytes, n: int, seed: int
) -> dict[int, TenantCreds]:
    box = SecretBox(fernet_key)
    sessions = db.create_sessionmaker(engine)
    result: dict[int, TenantCreds] = {}
    async with db.session_scope(sessions) as session:
        for t in range(n):
            creds = TenantCreds(
                slug=f"sim-{seed}-{t}",
                api_key="",
                business_name=f"Sim Services {t}",
                meta_page_id=f"77{seed % 1000:03d}{t:06d}",
                meta_app_secret=secrets.token_hex(16),
                hubspot_portal_id=6_000_000 + seed % 1000 * 1000 + t,
                hubspot_client_secret=secrets.token_hex(16),
                salesforce_org_id=f"00D{seed % 1000:03d}{t:09d}AAA",
                google_key=secrets.token_hex(12),
                zapier_secret=secrets.token_hex(16),
                form_secret="whsec_"
                + __import__("base64").b64encode(secrets.token_bytes(24)).decode(),
            )
            _, key = await tenants.create_tenant(
                session,
                slug=creds.slug,
                name=creds.business_name,
                plan="enterprise",
                settings=_tenant_settings(t, creds),
                secret_box=box,
            )
            result[t] = TenantCreds(**{**creds.__dict__, "api_key": key})
    return result


async def _wait_ready(client: httpx.AsyncClient, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a platform process exited during start-up")
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get("/readyz")).status_code == 200:
                await asyncio.sleep(1.0)  # let the workers finish their start-up too
                return
        await asyncio.sleep(0.3)
    raise RuntimeError("the platform did not become ready within 120 s")


async def _load_dnc(
    client: httpx.AsyncClient, people: list[SimLead], creds: dict[int, TenantCreds]
) -> None:
    for person in people:
        if person.dnc:
            response = await client.post(
                "/v1/dnc",
                json={"phone": person.phone},
                headers={"Authorization": f"Bearer {creds[person.tenant].api_key}"},
            )
            response.raise_for_status()


async def _post_all(
    client: httpx.AsyncClient,
    people: list[SimLead],
    creds: dict[int, TenantCreds],
    public_url: str,
    progress: Progress,
) -> dict[int, dict[str, Any]]:
    """Post every lead (and redeliver some); returns index -> acknowledgement."""
    gate = asyncio.Semaphore(32)
    acks: dict[int, dict[str, Any]] = {}
    done = 0

    async def post(person: SimLead, *, again: bool) -> None:
        nonlocal done
        request = delivery(person, creds[person.tenant], public_url=public_url)
        async with gate:
            for attempt in range(5):
                try:
                    response = await client.request(
                        request.method, request.path, headers=request.headers, content=request.body
                    )
                except httpx.HTTPError:
                    await asyncio.sleep(0.5 * (attempt + 1))
                    continue
                if response.status_code in (429, 503):
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                    continue
                break
            else:
                acks.setdefault(person.index, {"status": 0})
                return
        entry = acks.setdefault(person.index, {"status": response.status_code, "lead_ids": []})
        if again:
            entry["redelivery_status"] = response.status_code
        if (
            response.headers.get("content-type", "").startswith("application/json")
            and response.status_code < 300
        ):
            body = response.json()
            ids = [lead["lead_id"] for lead in body.get("leads", [])]
            if again:
                entry["redelivery_duplicate"] = all(lead.get("duplicate") for lead in body["leads"])
                entry["redelivery_same_id"] = ids == entry["lead_ids"]
            else:
                entry["lead_ids"] = ids
        if not again:
            done += 1
            if done % 50 == 0 or done == len(people):
                progress.show("posting", done)

    await asyncio.gather(*(post(p, again=False) for p in people))
    await asyncio.gather(*(post(p, again=True) for p in people if p.redeliver))
    return acks


async def _wait_final(
    engine: Any, acks: dict[int, dict[str, Any]], *, timeout_s: float, progress: Progress
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT count(*) FILTER (WHERE status = ANY(:working)),"
                        " count(*) FILTER (WHERE status = 'scheduled' AND (next_action_at < now() - interval '30 seconds'"
                        "   OR (attempts = 0 AND next_action_at < now() + interval '2 minutes'))),"
                        " count(*) FILTER (WHERE status = ANY(:final)), count(*) FROM leads"
                    ),
                    {"working": list(WORKING), "final": list(FINAL)},
                )
            ).one()
        working, due_soon, final, total = rows
        progress.total = total
        progress.show("calling", final)
        if working == 0 and due_soon == 0:
            progress.end()
            return
        await asyncio.sleep(0.5)
    progress.end()


def _cpu_seconds(pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds each process (with its children: PostgreSQL's backends) has used so far."""
    import psutil

    used: dict[str, float] = {}
    for name, pid in pids.items():
        if pid is None:
            continue
        try:
            root = psutil.Process(pid)
            family = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        total = 0.0
        for proc in family:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = proc.cpu_times()
                total += times.user + times.system
        used[name] = round(total, 1)
    return used


def _percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "count": 0}
    values = sorted(values)
    if len(values) == 1:
        return {
            "p50": round(values[0], 3),
            "p95": round(values[0], 3),
            "p99": round(values[0], 3),
            "count": 1,
        }
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50": round(q[49], 3),
        "p95": round(q[94], 3),
        "p99": round(q[98], 3),
        "count": len(values),
    }


async def _report(
    engine: Any,
    people: list[SimLead],
    acks: dict[int, dict[str, Any]],
    creds: dict[int, TenantCreds],
    *,
    settings_offset: float,
) -> dict[str, Any]:
    async with engine.connect() as conn:
        leads = (
            await conn.execute(
                text(
                    "SELECT l.id::text, l.status, l.outcome, l.priority, l.reject_reason,"
                    " l.next_action_at, t.slug,"
                    " EXTRACT(EPOCH FROM (c.first_call - l.received_at)) AS speed,"
                    " (SELECT e.data->>'reason' FROM lead_events e WHERE e.lead_id = l.id"
                    "   AND e.kind = 'compliance.decision' ORDER BY e.id DESC LIMIT 1) AS reason,"
                    " (SELECT e.data->>'decision' FROM lead_events e WHERE e.lead_id = l.id"
                    "   AND e.kind = 'compliance.decision' ORDER BY e.id LIMIT 1) AS first_decision,"
                    " lower(l.email), c.first_call IS NOT NULL"
                    " FROM leads l JOIN tenants t ON t.id = l.tenant_id"
                    " LEFT JOIN (SELECT lead_id, min(started_at) AS first_call FROM calls GROUP BY lead_id) c"
                    " ON c.lead_id = l.id"
                )
            )
        ).all()
        calls = (
            await conn.execute(
                text(
                    "SELECT t.slug, count(*), max(per_min.n) FROM calls c JOIN tenants t ON t.id = c.tenant_id"
                    " JOIN LATERAL (SELECT count(*) AS n FROM calls c2 WHERE c2.tenant_id = c.tenant_id"
                    "   AND c2.started_at BETWEEN c.started_at - interval '1 minute' AND c.started_at) per_min ON true"
                    " GROUP BY t.slug"
                )
            )
        ).all()
        # Where an emergency lead's seconds go, hop by hop: intake (received -> ready), the
        # gate (ready -> its first decision), the dial queue (decision -> the call placed).
        hops = (
            await conn.execute(
                text(
                    "SELECT EXTRACT(EPOCH FROM (r.at - l.received_at)),"
                    " EXTRACT(EPOCH FROM (d.at - r.at)), EXTRACT(EPOCH FROM (c.at - d.at)),"
                    " l.source, EXTRACT(EPOCH FROM (c.at - l.received_at))"
                    " FROM leads l"
                    " JOIN LATERAL (SELECT min(created_at) AS at FROM lead_events"
                    "   WHERE lead_id = l.id AND kind = 'lead.ready') r ON r.at IS NOT NULL"
                    " JOIN LATERAL (SELECT created_at AS at, data->>'decision' AS decision"
                    "   FROM lead_events WHERE lead_id = l.id AND kind = 'compliance.decision'"
                    "   ORDER BY id LIMIT 1) d ON d.decision = 'call'"
                    " JOIN LATERAL (SELECT min(started_at) AS at FROM calls"
                    "   WHERE lead_id = l.id) c ON c.at IS NOT NULL"
                    " WHERE l.priority = 'emergency'"
                )
            )
        ).all()
        # The dialing pace: first calls placed in each 30 s since the first lead arrived.
        pace = (
            await conn.execute(
                text(
                    "SELECT floor(EXTRACT(EPOCH FROM (c.started_at - f.at)) / 30)::int, count(*)"
                    " FROM calls c, (SELECT min(received_at) AS at FROM leads) f"
                    " WHERE c.attempt = 1 GROUP BY 1 ORDER BY 1"
                )
            )
        ).all()
    # Every generated lead has a unique email; Salesforce's SOAP Ack names no lead, so the
    # reconciliation matches what was acknowledged by email rather than by answered ids.
    acknowledged = [p for p in people if 200 <= acks.get(p.index, {}).get("status", 0) < 300]
    found = {row[10]: row[0] for row in leads if row[10]}
    missing = sorted(p.email for p in acknowledged if p.email.lower() not in found)
    acked_ids = {found[p.email.lower()] for p in acknowledged if p.email.lower() in found}
    # Deferred by the gate (scheduled for later, with the reason on the timeline) is accounted
    # for; anything else not final, or scheduled but overdue, is stuck.
    overdue = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=60)
    stuck = [
        row[0]
        for row in leads
        if row[0] in acked_ids
        and row[1] not in FINAL
        and not (row[1] == "scheduled" and row[5] is not None and row[5] > overdue)
    ]
    statuses = Counter(row[1] for row in leads)
    outcomes = Counter(row[2] for row in leads if row[1] == "closed")
    blocks = Counter(row[8] or "unknown" for row in leads if row[1] == "blocked")
    rejects = Counter(row[4] or "unknown" for row in leads if row[1] == "rejected")
    deferred = Counter(
        ("retry_after_" + (row[2] or "attempt")) if row[11] else (row[8] or "unknown")
        for row in leads
        if row[1] == "scheduled"
    )
    speeds_all = [float(row[7]) for row in leads if row[7] is not None]
    speeds_now = [
        float(row[7])
        for row in leads
        if row[7] is not None and row[9] == "call" and row[3] == "emergency"
    ]
    redelivered = [a for a in acks.values() if "redelivery_status" in a]
    return {
        "leads": {
            "generated": len(people),
            "deliveries_posted": len(people) + len(redelivered),
            "acknowledged": len(acknowledged),
            "not_acknowledged": len(people) - len(acknowledged),
            "redeliveries": len(redelivered),
            "redeliveries_answered_duplicate_same_id": sum(
                1
                for a in redelivered
                if a.get("redelivery_duplicate") and a.get("redelivery_same_id")
            ),
            "by_source": dict(Counter(p.source for p in people)),
        },
        "final_states": dict(statuses),
        "outcomes": dict(outcomes),
        "blocks_by_reason": dict(blocks),
        "rejects_by_reason": dict(rejects),
        "scheduled_later": dict(deferred),
        "speed_to_lead_s": {
            "dialable_at_once": _percentiles(speeds_now),
            "all_dialed": _percentiles(speeds_all),
            "dialable_at_once_by_hop": {
                hop: _percentiles([float(row[i]) for row in hops])
                for i, hop in enumerate(("intake", "gate", "dial_queue"))
            },
            "dialable_at_once_by_source": {
                source: _percentiles([float(row[4]) for row in hops if row[3] == source])
                for source in sorted({row[3] for row in hops})
            },
        },
        "calls_per_tenant": {
            slug: {"calls": n, "max_per_minute": peak, "limit_per_minute": 600}
            for slug, n, peak in calls
        },
        "first_calls_per_30s": _dense({int(b): int(n) for b, n in pace}),
        "tenants": len(creds),
        "lost": len(missing) + len(stuck),
        "lost_detail": {"missing": missing[:20], "stuck": stuck[:20]},
        "gate_clock_offset_s": round(settings_offset),
    }


def _dense(buckets: dict[int, int]) -> list[int]:
    return [buckets.get(i, 0) for i in range(max(buckets, default=-1) + 1)]


def main_report(**kwargs: Any) -> dict[str, Any]:
    return asyncio.run(run_simulation(**kwargs))


def dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, default=str)
