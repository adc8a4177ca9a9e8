"""Grounding: a model's answer about a lead only counts if the lead's own words support it.

For every field the model must cite short verbatim quotes from the lead. A field is downgraded
to ``unknown`` when:

* it is not ``unknown`` but cites no quote;
* any quote it cites is not found in the lead's text (after the same normalization on both
  sides: case, punctuation, contractions) or is too short to mean anything;
* the quotes contradict it by our own rule tables: they name some other value of that field
  and never the claimed one ("roofing" backed by "my AC is broken").

Quotes that the tables know nothing about are accepted: they are real words of the lead, and
understanding them beyond keywords is what the model is for.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from leadwire.leads.enrichment.base import (
    ENRICHED_FIELDS,
    EnrichedField,
    Enrichment,
    Intent,
    LeadFacts,
    ServiceCategory,
    Urgency,
    ValueSignal,
)
from leadwire.leads.enrichment.rules import INTENT, SERVICE, URGENCY, VALUE, RuleTable
from leadwire.leads.enrichment.text import contains_phrase, normalize

MIN_QUOTE_CHARS = 3


@dataclass(frozen=True, slots=True)
class ModelAnswer:
    """One model's unverified answer: a value and its cited quotes per field."""

    intent: Intent
    intent_evidence: Sequence[str]
    urgency: Urgency
    urgency_evidence: Sequence[str]
    service_category: ServiceCategory
    service_evidence: Sequence[str]
    value_signal: ValueSignal
    value_evidence: Sequence[str]


_TABLES: dict[EnrichedField, RuleTable[Any]] = {
    "intent": INTENT,
    "urgency": URGENCY,
    "service_category": SERVICE,
    "value_signal": VALUE,
}


def quote_in_lead(quote: str, lead_text: str) -> bool:
    """Whether `quote` is a meaningful verbatim part of the lead's text."""
    if len(normalize(quote).replace(" ", "")) < MIN_QUOTE_CHARS:
        return False
    return contains_phrase(lead_text, quote)


def _grounded(
    field: EnrichedField, value: enum.StrEnum, quotes: Sequence[str], lead_text: str
) -> bool:
    if value.value == "unknown":
        return True
    if not quotes or not all(quote_in_lead(q, lead_text) for q in quotes):
        return False
    supported = _TABLES[field].labels_in(" . ".join(quotes))
    return not supported or value in supported


def ground(answer: ModelAnswer, lead: LeadFacts) -> Enrichment:
    """The answer with every ungrounded field set to ``unknown`` (and listed as downgraded)."""
    lead_text = lead.text()
    values: dict[EnrichedField, tuple[enum.StrEnum, Sequence[str]]] = {
        "intent": (answer.intent, answer.intent_evidence),
        "urgency": (answer.urgency, answer.urgency_evidence),
        "service_category": (answer.service_category, answer.service_evidence),
        "value_signal": (answer.value_signal, answer.value_evidence),
    }
    downgraded: list[EnrichedField] = []
    evidence: dict[EnrichedField, tuple[str, ...]] = {}
    kept: dict[EnrichedField, str] = {}
    for field in ENRICHED_FIELDS:
        value, quotes = values[field]
        if _grounded(field, value, quotes, lead_text):
            kept[field] = value.value
            if value.value != "unknown":
                evidence[field] = tuple(quotes)
        else:
            kept[field] = "unknown"
            downgraded.append(field)
    return Enrichment(
        intent=Intent(kept["intent"]),
        urgency=Urgency(kept["urgency"]),
        service_category=ServiceCategory(kept["service_category"]),
        value_signal=ValueSignal(kept["value_signal"]),
        evidence=evidence,
        source="gemini",
        downgraded=tuple(downgraded),
    )
