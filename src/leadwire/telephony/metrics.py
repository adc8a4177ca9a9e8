"""The dialer's Prometheus series, registered once on the process's registry."""

from __future__ import annotations

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter

from leadwire.platform.state import AppState


@dataclass(frozen=True)
class DialerMetrics:
    dials: Counter
    limited: Counter
    held: Counter
    callbacks: Counter
    escalations: Counter


_BY_REGISTRY: WeakKeyDictionary[CollectorRegistry, DialerMetrics] = WeakKeyDictionary()


def dialer_metrics(state: AppState) -> DialerMetrics:
    registry = state.metrics.registry
    found = _BY_REGISTRY.get(registry)
    if found is None:
        found = DialerMetrics(
            dials=Counter(
                "leadwire_dialer_dials_total",
                "Dial attempts by priority and result (placed, rejected, recovered, unknown)",
                ["priority", "result"],
                registry=registry,
            ),
            limited=Counter(
                "leadwire_dialer_limited_total",
                "Dials put back because a rate-limit layer refused (not an error)",
                ["layer"],
                registry=registry,
            ),
            held=Counter(
                "leadwire_dialer_held_total",
                "Dials deferred or held at the dial step, by reason",
                ["reason"],
                registry=registry,
            ),
            callbacks=Counter(
                "leadwire_telephony_callbacks_total",
                "Twilio callbacks by kind and effect on the call state",
                ["kind", "effect"],
                registry=registry,
            ),
            escalations=Counter(
                "leadwire_dialer_escalations_total",
                "Escalations the dialer raised (until platform.escalation exists)",
                ["kind"],
                registry=registry,
            ),
        )
        _BY_REGISTRY[registry] = found
    return found
