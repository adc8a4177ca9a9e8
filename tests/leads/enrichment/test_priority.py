"""Priority: explicit urgency is a floor; enrichment can only raise it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.leads.enrichment import (
    Enrichment,
    Intent,
    Priority,
    Urgency,
    ValueSignal,
    decide_priority,
)
from leadwire.leads.enrichment.priority import RANK

E, H, M, L, U = (Urgency.EMERGENCY, Urgency.HIGH, Urgency.MEDIUM, Urgency.LOW, Urgency.UNKNOWN)


def enriched(
    urgency: Urgency = U, value: ValueSignal = ValueSignal.UNKNOWN, intent: Intent = Intent.UNKNOWN
) -> Enrichment:
    return Enrichment(urgency=urgency, value_signal=value, intent=intent)


@pytest.mark.parametrize(
    ("explicit", "enrichment", "expected"),
    [
        # Never lower an explicit urgency.
        (E, enriched(L), Priority.EMERGENCY),
        (E, enriched(U), Priority.EMERGENCY),
        (H, enriched(L), Priority.HIGH),
        (L, enriched(L), Priority.LOW),
        (M, enriched(U), Priority.MEDIUM),
        # Raise it when the lead's words show it is worse.
        (L, enriched(E), Priority.EMERGENCY),
        (M, enriched(H), Priority.HIGH),
        # Nothing explicit: enrichment decides, either way.
        (None, enriched(L), Priority.LOW),
        (None, enriched(E), Priority.EMERGENCY),
        (None, enriched(U), Priority.MEDIUM),
        (None, None, Priority.MEDIUM),
        (E, None, Priority.EMERGENCY),
        (U, None, Priority.MEDIUM),  # "unknown" is not an explicit urgency
        # A high-value job someone wants done is raised one level, to high at most.
        (None, enriched(L, ValueSignal.HIGH, Intent.BUY), Priority.MEDIUM),
        (M, enriched(U, ValueSignal.HIGH, Intent.QUOTE), Priority.HIGH),
        (H, enriched(U, ValueSignal.HIGH, Intent.BUY), Priority.HIGH),
        (None, enriched(L, ValueSignal.HIGH, Intent.INFO), Priority.LOW),
    ],
)
def test_priority_table(
    explicit: Urgency | None, enrichment: Enrichment | None, expected: Priority
) -> None:
    decision = decide_priority(explicit=explicit, enrichment=enrichment)
    assert decision.priority is expected
    assert decision.reasons


explicit_urgencies = st.sampled_from([None, *Urgency])
enrichments = st.one_of(
    st.none(),
    st.builds(
        Enrichment,
        intent=st.sampled_from(Intent),
        urgency=st.sampled_from(Urgency),
        value_signal=st.sampled_from(ValueSignal),
    ),
)


@given(explicit=explicit_urgencies, enrichment=enrichments)
def test_enrichment_never_lowers_an_explicit_urgency(
    explicit: Urgency | None, enrichment: Enrichment | None
) -> None:
    decision = decide_priority(explicit=explicit, enrichment=enrichment)
    if explicit is not None and explicit is not Urgency.UNKNOWN:
        assert RANK[decision.priority] >= RANK[Priority(explicit.value)]
    if explicit is Urgency.EMERGENCY:
        assert decision.priority is Priority.EMERGENCY


@given(explicit=explicit_urgencies, enrichment=enrichments)
def test_only_urgency_makes_an_emergency(
    explicit: Urgency | None, enrichment: Enrichment | None
) -> None:
    decision = decide_priority(explicit=explicit, enrichment=enrichment)
    if decision.priority is Priority.EMERGENCY:
        assert Urgency.EMERGENCY in (explicit, enrichment.urgency if enrichment else None)
