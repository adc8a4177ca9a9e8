"""The deterministic enricher: the floor every lead gets when Gemini is absent or fails.

It reads only the lead's own words through the rule tables, so every answer it gives is
grounded by construction and carries the phrases that produced it.
"""

from __future__ import annotations

from leadwire.leads.enrichment.base import (
    EnrichedField,
    Enrichment,
    Intent,
    LeadFacts,
    ServiceCategory,
    Urgency,
    ValueSignal,
)
from leadwire.leads.enrichment.rules import INTENT, SERVICE, URGENCY, VALUE, money_signal


def enrich_locally(lead: LeadFacts, *, fallback_reason: str | None = None) -> Enrichment:
    """Score `lead` with the rule tables (pure; the same lead always gives the same answer)."""
    text = lead.text()
    evidence: dict[EnrichedField, tuple[str, ...]] = {}

    intent, quotes = INTENT.classify(text)
    if intent is not None:
        evidence["intent"] = quotes

    urgency, quotes = URGENCY.classify(text)
    if urgency is not None:
        evidence["urgency"] = quotes

    # The explicit `service` field names the service better than free text does.
    category, quotes = SERVICE.classify(lead.service or "")
    if category is None:
        category, quotes = SERVICE.classify(text)
    if category is not None:
        evidence["service_category"] = quotes

    # A stated budget says more about value than the kind of work does.
    value, quotes = money_signal(text)
    if value is None:
        value, quotes = VALUE.classify(text)
    if value is not None:
        evidence["value_signal"] = quotes

    return Enrichment(
        intent=intent or Intent.UNKNOWN,
        urgency=urgency or Urgency.UNKNOWN,
        service_category=category or ServiceCategory.UNKNOWN,
        value_signal=value or ValueSignal.UNKNOWN,
        evidence=evidence,
        source="local",
        fallback_reason=fallback_reason,
    )


class LocalEnricher:
    """`Enricher` over the rule tables; never fails, never waits."""

    async def enrich(self, lead: LeadFacts) -> Enrichment:
        return enrich_locally(lead)
