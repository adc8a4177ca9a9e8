"""Plans (bundles) as data: which features a tenant has and its default limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Plan:
    name: str
    features: frozenset[str]
    max_concurrent_calls: int
    max_calls_per_day: int
    sources: frozenset[str]


ALL_SOURCES = frozenset({"meta", "hubspot", "salesforce", "google-ads", "zapier", "form", "api"})

PLANS: dict[str, Plan] = {
    "starter": Plan(
        name="starter",
        features=frozenset({"ai_voice"}),
        max_concurrent_calls=2,
        max_calls_per_day=200,
        sources=frozenset({"meta", "google-ads", "zapier", "form", "api"}),
    ),
    "pro": Plan(
        name="pro",
        features=frozenset({"ai_voice", "ai_enrichment", "transfer", "booking"}),
        max_concurrent_calls=10,
        max_calls_per_day=2000,
        sources=ALL_SOURCES,
    ),
    "enterprise": Plan(
        name="enterprise",
        features=frozenset({"ai_voice", "ai_enrichment", "transfer", "booking", "national_dnc"}),
        max_concurrent_calls=100,
        max_calls_per_day=100_000,
        sources=ALL_SOURCES,
    ),
}

PLAN_NAMES = tuple(PLANS)


def plan_for(name: str) -> Plan:
    return PLANS[name]


def plan_summary(name: str) -> dict[str, Any]:
    plan = PLANS[name]
    return {
        "name": plan.name,
        "features": sorted(plan.features),
        "max_concurrent_calls": plan.max_concurrent_calls,
        "max_calls_per_day": plan.max_calls_per_day,
        "sources": sorted(plan.sources),
    }
