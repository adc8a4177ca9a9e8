"""Lead enrichment: intent, urgency, service category and value from the lead's own words.

`LocalEnricher` is the deterministic floor; `GeminiEnricher` asks Gemini for structured output,
grounds it in the lead's text and falls back to the floor on any failure. `decide_priority`
turns explicit urgency plus enrichment into the dial priority.
"""

from leadwire.leads.enrichment.base import (
    Enricher,
    Enrichment,
    Intent,
    LeadFacts,
    ServiceCategory,
    Urgency,
    ValueSignal,
)
from leadwire.leads.enrichment.gemini import GeminiEnricher
from leadwire.leads.enrichment.gemini_client import (
    FailureCounter,
    FailureReason,
    GeminiFailure,
    make_gemini_client,
)
from leadwire.leads.enrichment.local import LocalEnricher, enrich_locally
from leadwire.leads.enrichment.priority import Priority, PriorityDecision, decide_priority

__all__ = [
    "Enricher",
    "Enrichment",
    "FailureCounter",
    "FailureReason",
    "GeminiEnricher",
    "GeminiFailure",
    "Intent",
    "LeadFacts",
    "LocalEnricher",
    "Priority",
    "PriorityDecision",
    "ServiceCategory",
    "Urgency",
    "ValueSignal",
    "decide_priority",
    "enrich_locally",
    "make_gemini_client",
]
