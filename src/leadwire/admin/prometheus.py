"""Gauges read from the shared state at scrape time (`GET /metrics` refreshes them first).

A gauge of platform state (queue depth, open dead letters, emergency mode) must be read from
Redis and PostgreSQL when Prometheus asks, not kept in one process's memory, or every replica
would report its own idea of it. For the same reason the dead-letter counter is PostgreSQL's
count: letters are written by worker processes, which Prometheus does not scrape. A source
that cannot be read leaves its gauges at their last value and counts the failure in
`leadwire_scrape_errors_total`.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator

from prometheus_client import Counter, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from leadwire.admin import stats
from leadwire.admin.controls import paused_tenants
from leadwire.platform import deadletters, flags
from leadwire.platform.errors import ErrorClass
from leadwire.platform.observability import Metrics
from leadwire.platform.queues import DIAL_QUEUES
from leadwire.platform.state import AppState

log = logging.getLogger("leadwire.metrics")


class DeadLetterTotals(Collector):
    """`leadwire_dead_letters_total{error_class}`: every dead letter ever written, counted in
    PostgreSQL, so work dead-lettered in any worker process is seen by the API's scrape."""

    def __init__(self) -> None:
        self.by_class: dict[str, int] = {}

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "leadwire_dead_letters",
            "Work moved to the dead-letter table, by error class (all processes)",
            labels=["error_class"],
        )
        for error_class in ErrorClass:
            family.add_metric([error_class.value], self.by_class.get(error_class.value, 0))
        yield family


class ScrapeGauges:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.dead_letters_total = DeadLetterTotals()
        r.register(self.dead_letters_total)
        self.queue_depth = Gauge(
            "leadwire_queue_depth",
            "Jobs per queue and state (queued = ready now, active, scheduled = waiting)",
            ["queue", "state"],
            registry=r,
        )
        self.active_calls = Gauge(
            "leadwire_active_calls", "Leads with a call being placed or live", registry=r
        )
        self.dead_letters_open = Gauge(
            "leadwire_dead_letters_open",
            "Open dead letters by error class",
            ["error_class"],
            registry=r,
        )
        self.emergency = Gauge(
            "leadwire_emergency_mode", "1 while emergency mode stops dialing", registry=r
        )
        self.queue_paused = Gauge(
            "leadwire_queue_paused", "1 while a dial queue is paused", ["queue"], registry=r
        )
        self.tenants_paused = Gauge(
            "leadwire_tenants_paused", "Tenants whose dialing is paused", registry=r
        )
        self.workers_alive = Gauge(
            "leadwire_workers_alive", "Worker processes with a recent heartbeat", registry=r
        )
        self.scrape_errors = Counter(
            "leadwire_scrape_errors_total",
            "Shared-state sources that could not be read at scrape time",
            ["source"],
            registry=r,
        )


_GAUGES: weakref.WeakKeyDictionary[Metrics, ScrapeGauges] = weakref.WeakKeyDictionary()


def scrape_gauges(metrics: Metrics) -> ScrapeGauges:
    gauges = _GAUGES.get(metrics)
    if gauges is None:
        gauges = _GAUGES[metrics] = ScrapeGauges(metrics)
    return gauges


async def refresh(state: AppState) -> None:
    """Read Redis and PostgreSQL into the gauges; called by `GET /metrics` before rendering."""
    gauges = scrape_gauges(state.metrics)
    try:
        for queue, depth in (await stats.queue_depths(state)).items():
            for kind in ("queued", "active", "scheduled"):
                gauges.queue_depth.labels(queue, kind).set(depth[kind])
        workers = await stats.worker_heartbeats(state)
        gauges.workers_alive.set(sum(1 for w in workers if w["alive"]))
    except Exception as exc:
        gauges.scrape_errors.labels("redis").inc()
        log.warning("queue depth not read at scrape", extra={"error": repr(exc)})
    try:
        async with state.sessions() as session:
            current = await flags.read_flags(session)
            letters = await deadletters.count_by(session)
            active = await stats.active_calls(session)
            tenants = await paused_tenants(session)
    except Exception as exc:
        gauges.scrape_errors.labels("postgresql").inc()
        log.warning("platform state not read at scrape", extra={"error": repr(exc)})
        return
    gauges.emergency.set(1 if current.emergency else 0)
    for queue in DIAL_QUEUES:
        gauges.queue_paused.labels(queue).set(1 if current.queue_paused(queue) else 0)
    for error_class in ErrorClass:
        gauges.dead_letters_open.labels(error_class.value).set(
            letters["open"].get(error_class.value, 0)
        )
    gauges.dead_letters_total.by_class = {
        error_class.value: sum(by_class.get(error_class.value, 0) for by_class in letters.values())
        for error_class in ErrorClass
    }
    gauges.active_calls.set(active)
    gauges.tenants_paused.set(len(tenants))
