"""What the dialer's end-to-end tests feed and read: a steady stream of dialable leads, the
simulated carrier's own record of the calls it was asked to place, and a process's series."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.tenants.models import Tenant
from tests.telephony.helpers import make_lead, phone, route_job

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Feed:
    """The leads fed so far: (number, when it was routed) in order."""

    fed: list[tuple[str, float]] = field(default_factory=list)

    def numbers_between(self, start: float, end: float) -> set[str]:
        return {number for number, at in self.fed if start <= at < end}


@contextlib.asynccontextmanager
async def steady_leads(
    state: AppState, tenant: Tenant, *, every_s: float, first: int = 0, priority: str = "high"
) -> AsyncIterator[Feed]:
    """A dialable lead every `every_s` seconds while the block runs, stored and routed as
    intake does (`make_lead`, `route_job`). Each number is new (Atlanta, 8:00-21:00 every day
    at the gate's daytime clock) and a person answers it for 20 s, so no retry comes back and
    no carrier failure cuts the tenant's rate."""
    feed = Feed()
    stop = asyncio.Event()

    async def produce() -> None:
        for n in itertools.count(first):
            number = phone(n % 10_000)
            await simulator.set_override(state, e164=number, outcome="answered", duration_s=20)
            lead_id = await make_lead(state, tenant, number=number, priority=priority)
            await route_job(state, lead_id, tenant)
            feed.fed.append((number, time.time()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every_s)
            if stop.is_set():
                return

    task = asyncio.create_task(produce())
    try:
        yield feed
    finally:
        # Stopped between two leads, never cancelled inside a database round trip.
        stop.set()
        await asyncio.wait_for(task, 30)


async def placed_at(state: AppState) -> list[tuple[float, str]]:
    """(when, to) of every call the simulated carrier created, by its own clock, oldest first."""
    calls = await simulator.carrier_calls(state.redis)
    return sorted((c.created_ms / 1000, c.to) for c in calls)


def parse_metrics(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient() as http:
        response = await http.get(url, timeout=5)
    response.raise_for_status()
    assert response.headers["content-type"].startswith("text/plain")
    return parse_metrics(response.text)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name` over every series carrying `labels`."""
    want = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and want <= have)
