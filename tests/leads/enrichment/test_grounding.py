"""Grounding: a model's answer only counts where the lead's own words support it."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from leadwire.leads.enrichment import (
    Intent,
    LeadFacts,
    ServiceCategory,
    Urgency,
    ValueSignal,
)
from leadwire.leads.enrichment.grounding import ModelAnswer, ground, quote_in_lead

LEAD = LeadFacts(
    service="AC Repair",
    message="My AC stopped working last night and it's 95 degrees. Need someone today!",
    campaign_id="google_ads_hvac",
    custom_fields={"home_type": "two story house"},
)


def answer(**overrides: object) -> ModelAnswer:
    fields: dict[str, object] = {
        "intent": Intent.BUY,
        "intent_evidence": ["Need someone today"],
        "urgency": Urgency.HIGH,
        "urgency_evidence": ["need someone today"],
        "service_category": ServiceCategory.HVAC,
        "service_evidence": ["My AC stopped working"],
        "value_signal": ValueSignal.MEDIUM,
        "value_evidence": ["AC stopped working"],
    }
    fields.update(overrides)
    return ModelAnswer(**fields)  # type: ignore[arg-type]


def test_a_fully_grounded_answer_is_kept() -> None:
    result = ground(answer(), LEAD)
    assert result.downgraded == ()
    assert result.source == "gemini"
    assert (result.intent, result.urgency, result.service_category, result.value_signal) == (
        Intent.BUY,
        Urgency.HIGH,
        ServiceCategory.HVAC,
        ValueSignal.MEDIUM,
    )
    assert result.evidence["service_category"] == ("My AC stopped working",)


@pytest.mark.parametrize(
    ("overrides", "downgraded_field"),
    [
        # A quote the lead never wrote.
        ({"urgency": Urgency.EMERGENCY, "urgency_evidence": ["there is a gas leak"]}, "urgency"),
        # A service the lead never mentioned, backed by an invented quote.
        (
            {"service_category": ServiceCategory.PLUMBING, "service_evidence": ["pipe burst"]},
            "service_category",
        ),
        # A real quote that names another service than the one claimed.
        (
            {"service_category": ServiceCategory.ROOFING, "service_evidence": ["My AC"]},
            "service_category",
        ),
        # A real quote that says the opposite urgency.
        ({"urgency": Urgency.LOW, "urgency_evidence": ["Need someone today"]}, "urgency"),
        # An answer without any evidence.
        ({"value_signal": ValueSignal.HIGH, "value_evidence": []}, "value_signal"),
        # One good quote does not excuse an invented one.
        (
            {"intent_evidence": ["Need someone today", "wants a full replacement"]},
            "intent",
        ),
        # Too short to mean anything.
        ({"intent_evidence": ["I"]}, "intent"),
    ],
)
def test_ungrounded_fields_are_downgraded_to_unknown(
    overrides: dict[str, object], downgraded_field: str
) -> None:
    result = ground(answer(**overrides), LEAD)
    assert result.downgraded == (downgraded_field,)
    assert getattr(result, downgraded_field).value == "unknown"
    assert downgraded_field not in result.evidence
    # The other fields are untouched.
    assert all(
        getattr(result, f).value != "unknown"
        for f in ("intent", "urgency", "service_category", "value_signal")
        if f != downgraded_field
    )


@pytest.mark.parametrize(
    "quote",
    [
        "my ac STOPPED working",  # case
        "it's 95 degrees",  # punctuation and contraction
        "it is 95 degrees",  # contraction spelled out
        "google ads hvac",  # campaign id words
        "two story house",  # custom field value
    ],
)
def test_quotes_match_after_normalization(quote: str) -> None:
    assert quote_in_lead(quote, LEAD.text())


@pytest.mark.parametrize("quote", ["AC stopped working yesterday", "95 degree", "", "  "])
def test_quotes_not_in_the_lead_are_rejected(quote: str) -> None:
    assert not quote_in_lead(quote, LEAD.text())


def test_unknown_needs_no_evidence() -> None:
    empty: Sequence[str] = []
    result = ground(answer(value_signal=ValueSignal.UNKNOWN, value_evidence=empty), LEAD)
    assert result.value_signal is ValueSignal.UNKNOWN
    assert result.downgraded == ()


def test_a_model_inference_from_real_words_is_accepted() -> None:
    # No rule knows "95 degrees" means HVAC trouble, but the words are the lead's own.
    result = ground(answer(service_evidence=["it's 95 degrees"]), LEAD)
    assert result.service_category is ServiceCategory.HVAC
