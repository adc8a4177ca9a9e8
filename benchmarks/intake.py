"""Intake throughput and time to acknowledgement against a real `leadwire serve`.

    uv run python benchmarks/intake.py [--duration 30] [--connections 32] [--threads 2]
                                       [--scenario direct|meta|both] [--api-workers 2]
                                       [--pace-ms D] [--profile]

Without `--pace-ms` every connection sends its next request as soon as the previous one is
answered: the figures are the capacity (leads/s at saturation) and the latency there. With
`--pace-ms 15`, wrk's `delay()` makes each of the same 32 connections wait 15 ms between an
answer and its next request (about 1,000-1,100 requests/s in all here): the figures are the
time to acknowledgement at that load.

Starts an embedded PostgreSQL and Valkey (unless LEADWIRE_DATABASE_URL / LEADWIRE_REDIS_URL
are set: then it uses them, on a throw-away database name), migrates, creates a tenant, starts
`leadwire serve` as its own process, and drives it with wrk (installed with apt-get when
missing) from a Lua script that makes every lead unique:

* direct: `POST /v1/leads` with the tenant's bearer key, a unique valid US phone per request
  (deduplicated by fingerprint, the path clients without ids take);
* meta:   `POST /v1/webhooks/meta/{slug}`, each body a unique leadgen delivery signed with
  `X-Hub-Signature-256` (precomputed into files the Lua script reads).

It prints the machine, leads/s, p50/p95/p99 time to acknowledgement (wrk's request latency),
the load average, database transactions and Redis commands per lead, and checks zero loss: the
leads in the database must equal wrk's 2xx answers (plus, at most, the requests still in
flight when wrk stopped, which were committed but never read). No worker runs during the
measurement, so the queue only grows: what is measured is intake alone.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import phonenumbers

from leadwire.platform import db
from leadwire.platform.embedded import EmbeddedServers
from leadwire.platform.security import SecretBox
from leadwire.platform.settings import Settings
from leadwire.tenants import service as tenants

SECRET_KEY = "benchmark-secret-key-0123456789abcdefghijklmnopqrstuv"  # noqa: S105
ADMIN_TOKEN = "benchmark-admin-token-0123456789"  # noqa: S105
APP_SECRET = "benchmark-meta-app-secret-0123456789"  # noqa: S105
PAGE_ID = "1234567890123"
SLUG = "bench"
AREA_CODES = ("512", "737", "214", "469", "972", "713", "281", "832")

LUA_COMMON = r"""
local threads = {}
local next_id = 0
sent = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function done(summary, latency, requests)
  local total_sent = 0
  for _, t in ipairs(threads) do total_sent = total_sent + t:get("sent") end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d status_errors=%d connect=%d read=%d write=%d timeout=%d sent=%d " ..
    "duration_us=%d p50=%d p95=%d p99=%d max=%d wrapped=%d\n",
    summary.requests, e.status, e.connect, e.read, e.write, e.timeout, total_sent,
    summary.duration, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    latency.max, 0))
end
"""

LUA_DIRECT = r"""
local exchanges = {EXCHANGES}
local areas = {AREAS}
local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer APIKEY"}
local area
local base = 0

function init(args)
  area = areas[(id % #areas) + 1]
  base = tonumber(args[1]) or 0
end

function request()
  sent = sent + 1
  local n = base + sent
  local exch = exchanges[(math.floor(n / 10000) % #exchanges) + 1]
  local phone = string.format("+1%s%s%04d", area, exch, n % 10000)
  local body = string.format(
    '{"name":"Lead %d %d","phone":"%s","email":"lead%d.%d@example.com",' ..
    '"service":"HVAC repair","message":"AC stopped working, need someone today",' ..
    '"postal_code":"78701","state":"TX","campaign_id":"bench"}',
    id, n, phone, id, n)
  return wrk.format("POST", "/v1/leads", headers, body)
end
"""

LUA_META = r"""
local bodies = {}
local signatures = {}
local path = "/v1/webhooks/meta/SLUG"
local base = 0

function init(args)
  base = tonumber(args[1]) or 0
  local file = assert(io.open(string.format("DATADIR/meta-%d.tsv", id), "r"))
  for line in file:lines() do
    local tab = string.find(line, "\t", 1, true)
    table.insert(signatures, string.sub(line, 1, tab - 1))
    table.insert(bodies, string.sub(line, tab + 1))
  end
  file:close()
end

function request()
  sent = sent + 1
  local i = ((base + sent - 1) % #bodies) + 1
  if base + sent > #bodies then wrapped = 1 end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["X-Hub-Signature-256"] = signatures[i],
  }, bodies[i])
end
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{model}, {os.cpu_count()} CPUs, {mem_gb:.0f} GiB RAM, {platform.system()} "
        f"{platform.release()}, Python {platform.python_version()}"
    )


def _host_cpu() -> float:
    """CPU seconds the whole machine spent busy so far (all cores)."""
    import psutil

    times = psutil.cpu_times()
    return float(times.user + times.nice + times.system + times.irq + times.softirq)


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    print("wrk not found: installing it with apt-get", flush=True)
    install = ["apt-get", "install", "-y", "wrk"]
    if subprocess.run(install, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], capture_output=True, check=False)
        subprocess.run(install, capture_output=True, check=True)
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk could not be installed")
    return found


@contextmanager
def servers(folder: Path) -> Any:
    """(database URL, Redis URL): the environment's, or embedded ones started here."""
    db_url = os.environ.get("LEADWIRE_DATABASE_URL")
    redis_url = os.environ.get("LEADWIRE_REDIS_URL")
    embedded = None
    if not db_url or not redis_url:
        embedded = EmbeddedServers(folder, persist_redis=False)
        embedded.start(postgres=not db_url, redis=not redis_url)
    try:
        if db_url:
            name = f"leadwire_bench_{uuid.uuid4().hex[:8]}"
            parts = urlsplit(db_url)
            admin = urlunsplit(parts).replace("+asyncpg", "")
            asyncio.run(_admin_sql(admin, f'CREATE DATABASE "{name}"'))
            db_url = urlunsplit(parts._replace(path=f"/{name}"))
        else:
            assert embedded is not None
            db_url = embedded.postgres.url
        pids = {
            "postgres": embedded.postgres.pid if embedded else None,
            "valkey": embedded.valkey.pid if embedded else None,
        }
        yield db_url, redis_url or (embedded.valkey.url if embedded else ""), pids
    finally:
        if embedded is not None:
            embedded.stop()


async def _admin_sql(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def prepare_database(settings: Settings) -> tuple[str, str]:
    """Migrate and create the benchmark tenant; (tenant id, API key)."""
    assert settings.database_url
    engine = db.create_engine(settings.database_url, pool_size=2)
    try:
        await db.migrate(engine)
        async with db.session_scope(db.create_sessionmaker(engine)) as session:
            tenant, key = await tenants.create_tenant(
                session,
                slug=SLUG,
                plan="enterprise",
                settings={"sources": {"meta": {"page_ids": [PAGE_ID], "app_secret": APP_SECRET}}},
                secret_box=SecretBox(settings.fernet_key),
            )
        return str(tenant.id), key
    finally:
        await engine.dispose()


async def _database_figures(database_url: str, tenant_id: str) -> tuple[int, int]:
    """(transactions committed or rolled back in the database so far, the tenant's leads)."""
    import asyncpg

    parts = urlsplit(database_url.replace("+asyncpg", ""))
    conn = await asyncpg.connect(urlunsplit(parts))
    try:
        xacts = await conn.fetchval(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        leads = await conn.fetchval(
            "SELECT count(*) FROM leads WHERE tenant_id = $1", uuid.UUID(tenant_id)
        )
        return int(xacts), int(leads)
    finally:
        await conn.close()


def _redis_commands(redis_url: str) -> tuple[int, int]:
    """(calls received from clients, every command executed): Redis counts the commands a Lua
    script runs too, so client calls are everything but those; in the intake path every client
    call is an EVALSHA (the flood cap, the SAQ enqueue), so calls = evalsha + the rest that is
    not run by scripts (none while wrk runs, apart from this function's own INFO)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        stats: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
        total = sum(int(v["calls"]) for v in stats.values())
        scripts = sum(int(v["calls"]) for k, v in stats.items() if k in _CLIENT_CALLS)
        return scripts, total
    finally:
        client.close()


_CLIENT_CALLS = {"cmdstat_evalsha", "cmdstat_eval", "cmdstat_get", "cmdstat_mget", "cmdstat_info"}


def _valid_exchanges(area: str) -> list[str]:
    found = []
    for exchange in range(200, 1000):
        number = phonenumbers.parse(f"+1{area}{exchange:03d}4321", None)
        if phonenumbers.is_valid_number(number):
            found.append(f"{exchange:03d}")
    return found


def pacing_lua(wait_ms: int) -> str:
    """wrk's `delay()`: each connection waits `wait_ms` after an answer before its next request
    (wrk's Lua has no wall clock to aim at a rate; the rate printed is the measured one)."""
    return f"\nfunction delay()\n  return {wait_ms}\nend\n"


def write_scripts(
    folder: Path, *, api_key: str, threads: int, per_thread: int, pacing: str = ""
) -> dict[str, Path]:
    exchanges = sorted(set.intersection(*(set(_valid_exchanges(a)) for a in AREA_CODES)))
    direct = LUA_COMMON + LUA_DIRECT.replace(
        "{EXCHANGES}", "{" + ",".join(f'"{e}"' for e in exchanges) + "}"
    ).replace("{AREAS}", "{" + ",".join(f'"{a}"' for a in AREA_CODES) + "}").replace(
        "APIKEY", api_key
    )
    meta = LUA_COMMON.replace("latency.max, 0))", "latency.max, wrapped_total()))") + (
        LUA_META.replace("SLUG", SLUG).replace("DATADIR", str(folder))
    )
    meta = meta.replace(
        "function done(",
        "wrapped = 0\nfunction wrapped_total()\n  local w = 0\n"
        '  for _, t in ipairs(threads) do w = w + t:get("wrapped") end\n  return w\nend\n\n'
        "function done(",
    )
    (folder / "direct.lua").write_text(direct + pacing)
    (folder / "meta.lua").write_text(meta + pacing)
    now = int(time.time())
    for thread in range(threads):
        lines = []
        for i in range(per_thread):
            leadgen = f"{9_000_000_000_000 + thread * 100_000_000 + i}"
            body = json.dumps(
                {
                    "object": "page",
                    "entry": [
                        {
                            "id": PAGE_ID,
                            "time": now,
                            "changes": [
                                {
                                    "field": "leadgen",
                                    "value": {
                                        "leadgen_id": leadgen,
                                        "page_id": PAGE_ID,
                                        "form_id": "555000111222",
                                        "adgroup_id": "666000111222",
                                        "ad_id": "666000111222",
                                        "created_time": now,
                                    },
                                }
                            ],
                        }
                    ],
                },
                separators=(",", ":"),
            )
            digest = hmac.new(APP_SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            lines.append(f"sha256={digest}\t{body}")
        (folder / f"meta-{thread}.tsv").write_text("\n".join(lines) + "\n")
    return {"direct": folder / "direct.lua", "meta": folder / "meta.lua"}


def start_server(
    env: dict[str, str], port: int, log_path: Path, *, workers: int
) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    proc = subprocess.Popen(
        [
            *[sys.executable, "-m", "leadwire.cli", "serve", "--host", "127.0.0.1"],
            *["--port", str(port), "--workers", str(workers)],
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"leadwire serve exited ({proc.returncode}); see {log_path}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"leadwire serve did not become ready; see {log_path}")


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds used so far by a process and its live children."""
    import psutil

    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    used = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        used += times.user + times.system
    return used


def _cpu_seconds(pids: dict[str, int | None]) -> dict[str, float]:
    """CPU seconds used so far by the API process, PostgreSQL (postmaster and backends), Valkey
    and the finished child processes of this script (wrk), to see where the two cores went."""
    import resource

    found = {name: _tree_cpu(pid) for name, pid in pids.items()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    found["wrk"] = children.ru_utime + children.ru_stime
    return found


def run_wrk(
    wrk: str,
    script: Path,
    *,
    port: int,
    duration: int,
    connections: int,
    threads: int,
    offset: int = 0,
) -> dict[str, int]:
    """Run wrk; `offset` is where the script starts numbering leads (after a warm-up's)."""
    command = [
        wrk,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        f"http://127.0.0.1:{port}",
        "--",
        str(offset),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"^RESULT (.*)$", out, re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk printed no result:\n{out}")
    return {k: int(v) for k, v in (pair.split("=") for pair in match.group(1).split())}


def profile(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy")
    if spy is None:
        print("(py-spy not found: no profile; `uv tool install py-spy` provides it)")
        return None
    return subprocess.Popen(
        [
            spy,
            "record",
            "--subprocesses",
            "-p",
            str(pid),
            "-d",
            str(seconds),
            "-f",
            "raw",
            "-o",
            str(out),
            "-r",
            "200",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def top_frames(
    collapsed: Path, limit: int = 25, *, cumulative: bool = False
) -> list[tuple[float, str]]:
    """Self (or cumulative) time share per function from py-spy's collapsed stacks."""
    total = 0
    own: dict[str, int] = {}
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        names = set(frames) if cumulative else {frames[-1]}
        for name in names:
            own[name] = own.get(name, 0) + int(count)
        total += int(count)
    ranked = sorted(own.items(), key=lambda kv: -kv[1])[:limit]
    return [(100.0 * n / max(total, 1), name) for name, n in ranked]


def scenario(
    name: str,
    *,
    wrk: str,
    script: Path,
    port: int,
    args: argparse.Namespace,
    database_url: str,
    redis_url: str,
    tenant_id: str,
    server_pid: int,
    server_pids: dict[str, int | None],
    folder: Path,
) -> bool:
    if args.warmup:
        # Not measured: lets a fresh database's autovacuum analyze the new tables (it runs
        # at every 10 % of growth, dozens of times in the first seconds) and warms caches.
        run_wrk(
            wrk,
            script,
            port=port,
            duration=args.warmup,
            connections=args.connections,
            threads=args.threads,
        )
        time.sleep(1)
    xacts_before, leads_before = asyncio.run(_database_figures(database_url, tenant_id))
    calls_before, commands_before = _redis_commands(redis_url)
    load_before = _load()
    pids = {"api": server_pid, **server_pids}
    cpu_before = _cpu_seconds(pids)
    host_before = _host_cpu()
    spy = None
    if args.profile:
        spy = profile(server_pid, max(5, args.duration - 10), folder / f"{name}.collapsed")
    result = run_wrk(
        wrk,
        script,
        port=port,
        duration=args.duration,
        connections=args.connections,
        threads=args.threads,
        offset=args.offset,
    )
    load_after = _load()
    host_after = _host_cpu()
    cpu_after = _cpu_seconds(pids)
    time.sleep(2.5)  # PostgreSQL publishes transaction counts at most once a second
    xacts_after, leads_after = asyncio.run(_database_figures(database_url, tenant_id))
    calls_after, commands_after = _redis_commands(redis_url)
    if spy is not None:
        spy.wait()
    answered = result["requests"]
    ok = answered - result["status_errors"]
    stored = leads_after - leads_before
    in_flight = result["sent"] - answered
    seconds = result["duration_us"] / 1e6
    print(
        f"\n== {name}: {args.connections} connections, {args.threads} wrk threads, {seconds:.1f} s"
    )
    print(f"load average before {load_before}, after {load_after} (1, 5, 15 min)")
    print(f"acknowledged (2xx)  {ok} leads = {ok / seconds:,.0f} leads/s")
    p50, p95, p99, worst = (result[k] / 1000 for k in ("p50", "p95", "p99", "max"))
    print(
        f"time to ack         p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms, "
        f"max {worst:.1f} ms"
    )
    print(
        f"non-2xx {result['status_errors']}, socket errors: connect {result['connect']} "
        f"read {result['read']} write {result['write']} timeout {result['timeout']}"
    )
    if result.get("wrapped"):
        print("WARNING: the precomputed bodies ran out and were reused (duplicates)")
    per_lead_db = (xacts_after - xacts_before) / max(stored, 1)
    per_request_calls = (calls_after - calls_before) / max(answered, 1)
    per_request_commands = (commands_after - commands_before) / max(answered, 1)
    print(
        f"round trips         {per_lead_db:.2f} database transactions per stored lead; Redis: "
        f"{per_request_calls:.2f} calls per request ({per_request_commands:.1f} commands "
        "counting those inside Lua scripts)"
    )
    busy = {k: cpu_after[k] - cpu_before[k] for k in cpu_after}
    elsewhere = host_after - host_before - sum(busy.values())
    print(
        "CPU seconds         "
        + ", ".join(f"{k} {v:.1f}" for k, v in busy.items())
        + f", everything else on the machine {max(elsewhere, 0):.1f} (of "
        f"{(os.cpu_count() or 1) * seconds:.0f} available); API process "
        f"{1000 * busy['api'] / max(answered, 1):.2f} ms CPU per request"
    )
    lost = ok - stored
    unread = stored - ok
    verdict = lost <= 0 and unread <= max(in_flight, 0)
    print(
        f"zero loss           {stored} leads in the database, {ok} acknowledged, "
        f"{max(in_flight, 0)} requests in flight when wrk stopped -> "
        + ("OK" if verdict else "MISMATCH")
    )
    if spy is not None and (folder / f"{name}.collapsed").exists():
        print("profile (self time, py-spy):")
        for share, frame in top_frames(folder / f"{name}.collapsed"):
            print(f"  {share:5.1f}%  {frame}")
        print("profile (cumulative time, py-spy):")
        for share, frame in top_frames(folder / f"{name}.collapsed", 40, cumulative=True):
            print(f"  {share:5.1f}%  {frame}")
    return verdict


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=5, help="seconds of unmeasured load first")
    parser.add_argument("--scenario", choices=["direct", "meta", "both"], default="both")
    parser.add_argument("--profile", action="store_true", help="py-spy the server (self time)")
    parser.add_argument(
        "--api-workers", type=int, default=2, help="`leadwire serve --workers` (API processes)"
    )
    parser.add_argument(
        "--pace-ms",
        type=int,
        default=0,
        help="each connection waits this long between an answer and its next request (default "
        "0: as fast as the server answers, which measures capacity; a paced run measures the "
        "time to acknowledgement at a load below it)",
    )
    args = parser.parse_args()
    wrk = ensure_wrk()
    print(f"machine: {_machine()}")
    folder = Path(tempfile.mkdtemp(prefix="leadwire-bench-"))
    ok = True
    with servers(folder) as (database_url, redis_url, server_pids):
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            secret_key=SECRET_KEY,  # type: ignore[arg-type]
            _env_file=None,  # type: ignore[call-arg]
        )
        tenant_id, api_key = asyncio.run(prepare_database(settings))
        per_thread = max(1000, 3000 * (args.duration + args.warmup) // args.threads)
        args.offset = 3000 * args.warmup // args.threads if args.warmup else 0
        pacing = pacing_lua(args.pace_ms) if args.pace_ms else ""
        scripts = write_scripts(
            folder, api_key=api_key, threads=args.threads, per_thread=per_thread, pacing=pacing
        )
        port = _free_port()
        env = {
            **os.environ,
            "LEADWIRE_DATABASE_URL": database_url,
            "LEADWIRE_REDIS_URL": redis_url,
            "LEADWIRE_SECRET_KEY": SECRET_KEY,
            "LEADWIRE_ADMIN_TOKEN": ADMIN_TOKEN,
            "LEADWIRE_DATA_DIR": str(folder),
            # One tenant sends everything here: lift its flood cap (6,000/min by default) so
            # the cap does not answer 429 to what is being measured.
            "LEADWIRE_TENANT_FLOOD_PER_MINUTE": "100000000",
        }
        server = start_server(env, port, folder / "serve.log", workers=args.api_workers)
        print(f"leadwire serve --workers {args.api_workers}")
        if args.pace_ms:
            print(f"paced: each of the {args.connections} connections waits {args.pace_ms} ms")
        try:
            names = ["direct", "meta"] if args.scenario == "both" else [args.scenario]
            for name in names:
                ok &= scenario(
                    name,
                    wrk=wrk,
                    script=scripts[name],
                    port=port,
                    args=args,
                    database_url=database_url,
                    redis_url=redis_url,
                    tenant_id=tenant_id,
                    server_pid=server.pid,
                    server_pids=server_pids,
                    folder=folder,
                )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
    if args.profile:
        print(f"profiles kept in {folder}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
