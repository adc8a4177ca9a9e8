"""Load 10 million DNC numbers, then look up 100,000 random numbers (half on the list).

Run: ``uv run python benchmarks/dnc.py [--numbers N] [--lookups M] [--seed S]``.

Without LEADWIRE_DATABASE_URL it starts the embedded PostgreSQL in a temporary folder (as the
test suite does); with it, it creates a throw-away database on that server and drops it at
the end. The load is the real command, `leadwire dnc import FILE --national` (COPY into a
staging table, set-based merge, commit, VACUUM ANALYZE); the lookups are the real
`compliance.dnc_store.lookup`, the query the gate runs for every call. Prints the machine,
the load time and the lookup p50/p99 next to the targets (load < 2 min, p99 < 1 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil

from leadwire.compliance import dnc_store, repository
from leadwire.compliance.facts import DncListKind
from leadwire.platform import db

LOAD_TARGET_S = 120.0
P99_TARGET_MS = 1.0


def cpu_model() -> str:
    """The CPU's marketing name (Linux reports it in /proc/cpuinfo, not in `platform`)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def generate(path: Path, count: int, seed: int, sample_every: int) -> list[int]:
    """Write `count` random NANP numbers (10 digits a line); return every `sample_every`-th
    as E.164 digits. Line numbers are even, so odd ones are certainly absent."""
    rnd = random.Random(seed)
    sample: list[int] = []
    with path.open("w") as out:
        chunk: list[str] = []
        for index in range(count):
            bits = rnd.getrandbits(64)
            npa = 200 + bits % 800
            bits //= 800
            nxx = 200 + bits % 800
            bits //= 800
            line = (bits % 5000) * 2
            number = npa * 10_000_000 + nxx * 10_000 + line
            chunk.append(f"{number}\n")
            if index % sample_every == 0:
                sample.append(10_000_000_000 + number)
            if len(chunk) == 100_000:
                out.writelines(chunk)
                chunk.clear()
        out.writelines(chunk)
    return sample


def absent_numbers(count: int, seed: int) -> list[int]:
    rnd = random.Random(seed + 1)
    return [
        10_000_000_000
        + rnd.randrange(200, 1000) * 10_000_000
        + rnd.randrange(200, 1000) * 10_000
        + rnd.randrange(5000) * 2
        + 1
        for _ in range(count)
    ]


@contextlib.contextmanager
def database() -> Iterator[str]:
    """An empty database URL: embedded PostgreSQL, or a throw-away one on the given server."""
    given = os.environ.get("LEADWIRE_DATABASE_URL")
    if given:
        import asyncpg

        name = f"leadwire_bench_{uuid.uuid4().hex[:10]}"
        parts = urlsplit(given.replace("+asyncpg", ""))

        async def run(sql: str) -> None:
            conn = await asyncpg.connect(urlunsplit(parts))
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

        asyncio.run(run(f'CREATE DATABASE "{name}"'))
        try:
            url = urlunsplit(parts._replace(path=f"/{name}"))
            yield url.replace("postgresql://", "postgresql+asyncpg://", 1)
        finally:
            asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return
    from leadwire.platform.embedded import EmbeddedServers

    folder = Path(tempfile.mkdtemp(prefix="leadwire-bench-"))
    servers = EmbeddedServers(folder, persist_redis=False)
    servers.start(postgres=True, redis=False)
    try:
        yield servers.postgres.url
    finally:
        servers.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def prepare(url: str) -> str:
    engine = db.create_engine(url, pool_size=1)
    try:
        await db.migrate(engine)
        async with engine.connect() as conn:
            version = (await conn.exec_driver_sql("SHOW server_version")).scalar_one()
        return str(version)
    finally:
        await engine.dispose()


async def measure_lookups(
    url: str, present: list[int], absent: list[int]
) -> tuple[list[float], list[float]]:
    """(DNC lookup latencies, whole gate-facts statement latencies), in ms."""
    engine = db.create_engine(url, pool_size=1)
    sessions = db.create_sessionmaker(engine)
    tenant_id = uuid.uuid4()
    now = dt.datetime.now(dt.UTC)
    numbers = [(phone, True) for phone in present] + [(phone, False) for phone in absent]
    random.Random(7).shuffle(numbers)
    latencies: list[float] = []
    facts_latencies: list[float] = []
    misses = 0
    try:
        async with sessions() as session:
            for phone, _ in numbers[:200]:  # warm the connection and the plan cache
                await dnc_store.lookup(
                    session, phone=phone, tenant_id=tenant_id, cross_tenant=False, now=now
                )
            for phone, expected in numbers:
                started = time.perf_counter()
                found = await dnc_store.lookup(
                    session, phone=phone, tenant_id=tenant_id, cross_tenant=False, now=now
                )
                latencies.append((time.perf_counter() - started) * 1000)
                hit = any(h.list_kind is DncListKind.NATIONAL for h in found.hits)
                if hit != expected:
                    misses += 1
            # The statement the gate runs before every dial: DNC, revocations, attempts,
            # flags and the tenant's pause in one round trip.
            for phone, expected in numbers[: len(numbers) // 10]:
                started = time.perf_counter()
                facts = await repository.gate_facts(
                    session,
                    tenant_id=tenant_id,
                    phone=phone,
                    lead_id=None,
                    cross_tenant=False,
                    now=now,
                )
                facts_latencies.append((time.perf_counter() - started) * 1000)
                if bool(facts.dnc.hits) != expected:
                    misses += 1
    finally:
        await engine.dispose()
    if misses:
        raise SystemExit(f"{misses} lookups answered wrongly")
    return latencies, facts_latencies


async def checkpoint(url: str) -> None:
    engine = db.create_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            await conn.exec_driver_sql("CHECKPOINT")
    finally:
        await engine.dispose()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--numbers", type=int, default=10_000_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261121)
    args = parser.parse_args()
    half = args.lookups // 2

    memory_gb = psutil.virtual_memory().total / 2**30
    print(
        f"machine: {os.cpu_count()} cores, {cpu_model()}, {memory_gb:.0f} GiB RAM, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="leadwire-dnc-") as folder:
        path = Path(folder) / "national.txt"
        started = time.perf_counter()
        sample = generate(path, args.numbers, args.seed, max(1, args.numbers // half))
        present = sample[:half]
        absent = absent_numbers(args.lookups - len(present), args.seed)
        size_mb = path.stat().st_size / 2**20
        print(
            f"generated {args.numbers:,} numbers ({size_mb:.0f} MiB) in "
            f"{time.perf_counter() - started:.1f} s",
            flush=True,
        )
        with database() as url:
            version = asyncio.run(prepare(url))
            print(f"PostgreSQL {version}", flush=True)
            os.environ["LEADWIRE_DATABASE_URL"] = url
            from leadwire.cli import main as leadwire

            started = time.perf_counter()
            code = leadwire(["dnc", "import", str(path), "--national"])
            load_s = time.perf_counter() - started
            if code != 0:
                return code
            # Right after a 10-million-row load, PostgreSQL is still writing that load out
            # (checkpoint), which shows as tail latency; registries load monthly, lookups run
            # all the time, so the target is judged in steady state: after a CHECKPOINT.
            after_load, _ = asyncio.run(measure_lookups(url, present, absent))
            asyncio.run(checkpoint(url))
            latencies, facts_latencies = asyncio.run(measure_lookups(url, present, absent))
    print(
        f"lookups right after the load: p50 {percentile(after_load, 0.50):.3f} ms, "
        f"p99 {percentile(after_load, 0.99):.3f} ms, max {max(after_load):.3f} ms"
    )
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    print(
        f"load: {args.numbers:,} numbers in {load_s:.1f} s "
        f"({args.numbers / load_s:,.0f}/s; target < {LOAD_TARGET_S:.0f} s: "
        f"{'ok' if load_s < LOAD_TARGET_S else 'MISSED'})"
    )
    print(
        f"lookups in steady state (after CHECKPOINT): {len(latencies):,} "
        f"({len(present):,} present) p50 {p50:.3f} ms, "
        f"p99 {p99:.3f} ms, max {max(latencies):.3f} ms, mean "
        f"{statistics.fmean(latencies):.3f} ms (p99 target < {P99_TARGET_MS} ms: "
        f"{'ok' if p99 < P99_TARGET_MS else 'MISSED'})"
    )
    print(
        f"gate facts statement (DNC + revocations + attempts + flags + pause): "
        f"{len(facts_latencies):,} p50 {percentile(facts_latencies, 0.5):.3f} ms, "
        f"p99 {percentile(facts_latencies, 0.99):.3f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
