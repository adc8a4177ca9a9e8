"""The local enricher: rule tables over the lead's own words."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.leads.enrichment import (
    Intent,
    LeadFacts,
    LocalEnricher,
    ServiceCategory,
    Urgency,
    ValueSignal,
    enrich_locally,
)
from leadwire.leads.enrichment.text import contains_phrase, normalize


@pytest.mark.parametrize(
    ("service", "message", "intent", "urgency", "category", "value"),
    [
        (
            "HVAC Emergency",
            "AC stopped working, it's 90 degrees inside, need someone today",
            Intent.BUY,
            Urgency.EMERGENCY,  # "Emergency" in the service field
            ServiceCategory.HVAC,
            ValueSignal.UNKNOWN,
        ),
        (
            None,
            "Water heater burst and the basement is flooding",
            Intent.UNKNOWN,
            Urgency.EMERGENCY,
            ServiceCategory.PLUMBING,  # "water heater" beats "heater" (longest match)
            ValueSignal.UNKNOWN,
        ),
        (
            "Roofing",
            "Just want a quote for a new roof next month, budget $12,000",
            Intent.QUOTE,
            Urgency.LOW,
            ServiceCategory.ROOFING,
            ValueSignal.HIGH,  # a stated budget
        ),
        (
            None,
            "Not urgent, thinking about solar panels",
            Intent.UNKNOWN,
            Urgency.LOW,  # "not urgent" hides "urgent"
            ServiceCategory.SOLAR,
            ValueSignal.UNKNOWN,
        ),
        (
            "Plumbing",
            "Kitchen sink is clogged, can you fix it this week",
            Intent.BUY,
            Urgency.HIGH,
            ServiceCategory.PLUMBING,
            ValueSignal.MEDIUM,
        ),
        (
            None,
            "Question about my warranty on the furnace you installed",
            Intent.SUPPORT,
            Urgency.UNKNOWN,
            ServiceCategory.HVAC,
            ValueSignal.HIGH,
        ),
        (
            None,
            "Annual tune-up please, cheapest option",
            Intent.UNKNOWN,
            Urgency.UNKNOWN,
            ServiceCategory.UNKNOWN,
            ValueSignal.LOW,
        ),
        (None, None, Intent.UNKNOWN, Urgency.UNKNOWN, ServiceCategory.UNKNOWN, ValueSignal.UNKNOWN),
    ],
)
def test_rule_tables_read_the_leads_words(
    service: str | None,
    message: str | None,
    intent: Intent,
    urgency: Urgency,
    category: ServiceCategory,
    value: ValueSignal,
) -> None:
    result = enrich_locally(LeadFacts(service=service, message=message))
    assert (result.intent, result.urgency, result.service_category, result.value_signal) == (
        intent,
        urgency,
        category,
        value,
    )
    assert result.source == "local"


def test_every_local_answer_cites_words_found_in_the_lead() -> None:
    lead = LeadFacts(
        service="HVAC Emergency",
        message="Furnace is sparking, smells like burning. Need a replacement ASAP.",
        custom_fields={"budget": "around $8k"},
    )
    result = enrich_locally(lead)
    assert result.urgency is Urgency.EMERGENCY
    assert result.value_signal is ValueSignal.HIGH
    for quotes in result.evidence.values():
        assert quotes
        assert all(contains_phrase(lead.text(), q) for q in quotes)


def test_the_explicit_service_field_wins_over_free_text() -> None:
    lead = LeadFacts(service="Electrical", message="the AC outlet keeps tripping the breaker")
    assert enrich_locally(lead).service_category is ServiceCategory.ELECTRICAL


async def test_local_enricher_implements_the_protocol() -> None:
    lead = LeadFacts(message="pipe burst")
    assert await LocalEnricher().enrich(lead) == enrich_locally(lead)


def test_lead_facts_from_the_contract_shape_drop_contact_data() -> None:
    facts = LeadFacts.from_lead(
        {
            "name": "Sarah Johnson",
            "phone": "+15551234567",
            "email": "sarah@example.com",
            "service": "HVAC Emergency",
            "urgency": "EMERGENCY",
            "postal_code": "78701",
            "message": "  ",
            "custom_fields": {"what_service_do_you_need": "AC repair", "empty": ""},
        }
    )
    assert facts.urgency is Urgency.EMERGENCY
    assert facts.message is None
    assert facts.custom_fields == {"what_service_do_you_need": "AC repair"}
    assert "5551234567" not in facts.text()
    assert "sarah@" not in facts.text()
    assert LeadFacts.from_lead({"urgency": "whenever"}).urgency is None


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("I don't want ANY more calls!", "i do not want any more calls"),
        ("dont call", "do not call"),
        ("It won\u2019t stop leaking", "it will not stop leaking"),
        ("I'm   not\tsure", "i am not sure"),
        ("google_ads-hvac", "google ads hvac"),
    ],
)
def test_normalize_folds_both_sides_the_same_way(raw: str, folded: str) -> None:
    assert normalize(raw) == folded


@given(st.text(max_size=300))
def test_local_enrichment_is_total_and_deterministic(message: str) -> None:
    lead = LeadFacts(message=message)
    assert enrich_locally(lead) == enrich_locally(lead)
