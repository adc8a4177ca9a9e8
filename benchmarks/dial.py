"""Dial throughput against the simulated carrier, with many tenants, on real processes.

    uv run python benchmarks/dial.py [--tenants 20] [--leads 400] [--workers 2] [--cps 100]

Starts PostgreSQL and Valkey from their wheels (or uses LEADWIRE_DATABASE_URL and
LEADWIRE_REDIS_URL), `leadwire serve` and `--workers` `leadwire worker` processes, stores
`--leads` ready leads spread over `--tenants` tenants (as intake does), queues their
`dialer.route` jobs, and waits until every lead has been dialed. The whole pipeline runs: the
gate at queue and dial time, the board, the rate layers, the dial transaction, the simulated
carrier's POST /Calls and its signed callbacks to the API.

Prints the machine, calls per second (first to last call created at the carrier) and the
p50/p95 dial latency: from a lead being stored to its call being created at the carrier
("lead to dial"), and from its attempt being eligible on the board to the same moment
("eligible to dial").
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select, text

from leadwire.leads.repository import FINGERPRINT_WINDOW, _json_default
from leadwire.platform import db
from leadwire.platform.embedded import EmbeddedServers
from leadwire.platform.jobs import job_key
from leadwire.platform.settings import Settings
from leadwire.platform.state import open_state
from leadwire.telephony import simulator
from leadwire.telephony.models import Call
from leadwire.tenants import service as tenants

SECRET_KEY = "benchmark-secret-key-0123456789abcdefghijklmnop"  # noqa: S105 - a throw-away run
ALL_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
BUSINESS = "Acme HVAC"
CONSENT = (
    f"By clicking Submit, I agree that {BUSINESS} may call me at the number above, including "
    "calls made with an artificial or prerecorded voice or an AI voice. Consent is not a "
    "condition of purchase."
)
_INGEST = text(
    "SELECT lead_id, created FROM leadwire_ingest("
    "CAST(:lead AS jsonb), CAST(:event AS jsonb), :window)"
)


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs ({model}), "
        f"Python {platform.python_version()}"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def daytime_offset_s() -> float:
    """The gate judges 14:00 in Atlanta, whatever the hour of the run (simulated carrier)."""
    now = dt.datetime.now(dt.UTC)
    return (now.replace(hour=18, minute=0, second=0, microsecond=0) - now).total_seconds() % 86_400


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def lead_row(tenant_id: uuid.UUID, number: str, priority: str) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    lead_id = uuid.uuid4()
    return {
        "id": lead_id, "tenant_id": tenant_id, "source": "api",
        "dedupe_key": f"bench:{lead_id}", "fingerprint": None, "external_id": None,
        "status": "ready", "reject_reason": None, "priority": priority, "urgency": priority,
        "phone_raw": number, "phone_e164": number, "phone_info": {}, "name": "Sam Lee",
        "first_name": "Sam", "last_name": "Lee", "email": None, "service": "HVAC repair",
        "postal_code": "30303", "state": "GA", "campaign_id": None, "message": None,
        "consent": {"granted": True, "text": CONSENT,
                    "timestamp": (now - dt.timedelta(days=1)).isoformat()},
        "custom_fields": {}, "enrichment": None, "raw": None, "outcome": None, "attempts": 0,
        "next_action_at": now, "received_at": now, "updated_at": now,
    }  # fmt: skip


class Processes:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> None:
        with (self.folder / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "leadwire.cli", *args],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running.append((name, process))

    def stop(self) -> None:
        workers = [p for name, p in self.running if name != "api"]
        api = [p for name, p in self.running if name == "api"]
        for group in (workers, api):
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="leadwire-bench-"))
    servers = None
    database_url = os.environ.get("LEADWIRE_DATABASE_URL")
    redis_url = os.environ.get("LEADWIRE_REDIS_URL")
    if not database_url or not redis_url:
        servers = EmbeddedServers(folder, persist_redis=False)
        servers.start(postgres=not database_url, redis=not redis_url)
        database_url = database_url or servers.postgres.url
        redis_url = redis_url or servers.valkey.url
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    settings = Settings(
        database_url=database_url,
        redis_url=redis_url,
        secret_key=SECRET_KEY,  # type: ignore[arg-type]
        public_url=public_url,
        _env_file=None,  # type: ignore[call-arg]
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LEADWIRE_", "TWILIO_"))}
    env = {
        **base,
        "LEADWIRE_DATABASE_URL": settings.database_url or "",
        "LEADWIRE_REDIS_URL": settings.redis_url or "",
        "LEADWIRE_SECRET_KEY": SECRET_KEY,
        "LEADWIRE_PUBLIC_URL": public_url,
        "LEADWIRE_TELEPHONY": "simulated",
        "LEADWIRE_TWILIO_CPS": str(args.cps),
        "LEADWIRE_SIMULATOR_TIME_SCALE": "0.01",
        "LEADWIRE_SIMULATOR_CLOCK_OFFSET_S": str(daytime_offset_s()),
        "LEADWIRE_LOG_LEVEL": "WARNING",
    }
    processes = Processes(env, folder)
    try:
        engine = db.create_engine(database_url, pool_size=1)
        await db.migrate(engine)
        await engine.dispose()
        async with open_state(settings) as state:
            await state.redis.flushdb()
            tenant_ids = []
            async with db.session_scope(state.sessions) as session:
                for i in range(args.tenants):
                    tenant, _ = await tenants.create_tenant(
                        session,
                        slug=f"bench-{uuid.uuid4().hex[:8]}-{i}",
                        plan="enterprise",
                        settings={
                            "agent": {"business_name": BUSINESS},
                            "caller_ids": ["+14045550100"],
                            "calling_hours": {"start": "08:00", "end": "21:00", "days": ALL_DAYS},
                            "dial_delays_s": {"emergency": 0, "high": 0, "medium": 0, "low": 0},
                            # One attempt per lead within the run: retries are a day away.
                            "call_retry": {
                                "busy_delays_s": [86_400],
                                "no_answer_delays_s": [86_400],
                                "machine_delays_s": [86_400],
                            },
                            "limits": {
                                "calls_per_minute": 10_000,
                                "calls_per_hour": 100_000,
                                "calls_per_day": 100_000,
                                "concurrent_calls": 100,
                                "daily_budget_usd": 100_000.0,
                            },
                        },
                        secret_box=state.secret_box,
                    )
                    tenant_ids.append(tenant.id)
            processes.start("api", "serve", "--port", str(port))
            for i in range(args.workers):
                processes.start(f"worker-{i + 1}", "worker")
            deadline = time.monotonic() + 120
            async with httpx.AsyncClient(timeout=1) as client:
                while time.monotonic() < deadline:
                    try:
                        if (await client.get(f"{public_url}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    await asyncio.sleep(0.2)
            await asyncio.sleep(8)  # let the workers finish starting
            priorities = ("emergency", "high", "medium", "low")
            stored: dict[uuid.UUID, dt.datetime] = {}
            for n in range(args.leads):
                tenant_id = tenant_ids[n % len(tenant_ids)]
                row = lead_row(tenant_id, f"+1404{2000000 + n:07d}", priorities[n % 4])
                async with state.engine.begin() as conn:
                    await conn.execute(
                        _INGEST,
                        {
                            "lead": json.dumps(row, default=_json_default),
                            "event": json.dumps({"kind": "lead.received", "data": {}}),
                            "window": FINGERPRINT_WINDOW,
                        },
                    )
                stored[row["id"]] = row["received_at"]
                await state.queues.enqueue(
                    "intake",
                    "dialer.route",
                    job_key=job_key("lead.route", row["id"]),
                    tenant_id=str(tenant_id),
                    lead_id=str(row["id"]),
                )
            deadline = time.monotonic() + args.timeout
            last_report = time.monotonic()
            while time.monotonic() < deadline:
                dialed = len(await simulator.carrier_calls(state.redis))
                if dialed >= args.leads:
                    break
                if time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    on_board = await state.redis.hlen("leadwire:dial:tickets")
                    async with state.sessions() as session:
                        statuses = dict(
                            (
                                await session.execute(
                                    text("SELECT status, count(*) FROM leads GROUP BY status")
                                )
                            ).all()
                        )
                    print(f"  ... {dialed} dialed, {on_board} on the board, leads {statuses}",
                          file=sys.stderr)  # fmt: skip
                await asyncio.sleep(0.5)
            placed = await simulator.carrier_calls(state.redis)
            async with state.sessions() as session:
                rows = (
                    await session.execute(
                        select(Call.lead_id, Call.provider_call_id, Call.dispatch)
                    )
                ).all()
        created_by_sid = {c.sid: c.created_ms / 1000 for c in placed}
        lead_to_dial, eligible_to_dial, lead_to_eligible, claim_to_dial = [], [], [], []
        for lead_id, sid, info in rows:
            if sid not in created_by_sid:
                continue
            created = created_by_sid[sid]
            lead_to_dial.append(created - stored[lead_id].timestamp())
            eligible = dt.datetime.fromisoformat(info["posted_at"]).timestamp()
            claimed = dt.datetime.fromisoformat(info["claimed_at"]).timestamp()
            eligible_to_dial.append(created - eligible)
            lead_to_eligible.append(eligible - stored[lead_id].timestamp())
            claim_to_dial.append(created - claimed)
        created_times = sorted(created_by_sid.values())
        span = created_times[-1] - created_times[0] if len(created_times) > 1 else 0.0
        return {
            "machine": machine(),
            "tenants": args.tenants,
            "leads": args.leads,
            "dialed": len(placed),
            "workers": args.workers,
            "account_cps": args.cps,
            "calls_per_s": round((len(created_times) - 1) / span, 1) if span else None,
            "lead_to_dial_p50_s": round(percentile(lead_to_dial, 0.5), 3),
            "lead_to_dial_p95_s": round(percentile(lead_to_dial, 0.95), 3),
            "eligible_to_dial_p50_s": round(percentile(eligible_to_dial, 0.5), 3),
            "eligible_to_dial_p95_s": round(percentile(eligible_to_dial, 0.95), 3),
            "lead_to_eligible_p50_s": round(percentile(lead_to_eligible, 0.5), 3),
            "claim_to_dial_p50_s": round(percentile(claim_to_dial, 0.5), 3),
        }
    finally:
        processes.stop()
        if servers is not None:
            servers.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--leads", type=int, default=400)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cps", type=float, default=100.0, help="the account's calls per second")
    parser.add_argument("--timeout", type=float, default=300.0)
    result = asyncio.run(run(parser.parse_args()))
    for key, value in result.items():
        print(f"{key:>24}: {value}")


if __name__ == "__main__":
    main()
