"""Priority: the lead's explicit urgency combined with what enrichment found.

Rules, in order (pure; the evidence for each step is returned with the decision):

1. An explicit urgency from the source (the lead's ``urgency`` field) is a floor. Enrichment
   may raise the priority above it but never lowers it: not an explicit ``emergency``, and not
   an explicit ``low`` either. The person or form that said how urgent it is knows better than
   a keyword or a model, except when the lead's own words show it is worse.
2. Enrichment's urgency (only when known) sets the priority when nothing explicit was given,
   and raises it when it is above the explicit one.
3. A high value signal on a lead that wants the work or a quote raises the priority by one
   level, up to ``high`` at most: money alone never makes an emergency.
4. With neither an explicit nor an enriched urgency the priority is ``medium``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from leadwire.leads.enrichment.base import Enrichment, Intent, Urgency, ValueSignal


class Priority(enum.StrEnum):
    EMERGENCY = "emergency"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


RANK: dict[Priority, int] = {
    Priority.LOW: 0,
    Priority.MEDIUM: 1,
    Priority.HIGH: 2,
    Priority.EMERGENCY: 3,
}
DEFAULT_PRIORITY = Priority.MEDIUM
VALUE_BUMP_CAP = Priority.HIGH


@dataclass(frozen=True, slots=True)
class PriorityDecision:
    priority: Priority
    reasons: tuple[str, ...]


def _as_priority(urgency: Urgency | None) -> Priority | None:
    if urgency is None or urgency is Urgency.UNKNOWN:
        return None
    return Priority(urgency.value)


def _raise_one(priority: Priority) -> Priority:
    by_rank = {rank: p for p, rank in RANK.items()}
    return by_rank[min(RANK[priority] + 1, RANK[VALUE_BUMP_CAP])]


def decide_priority(*, explicit: Urgency | None, enrichment: Enrichment | None) -> PriorityDecision:
    """Combine explicit urgency and enrichment into ``emergency|high|medium|low``."""
    reasons: list[str] = []
    floor = _as_priority(explicit)
    enriched = _as_priority(enrichment.urgency) if enrichment is not None else None

    if floor is not None:
        priority = floor
        reasons.append(f"explicit urgency {floor.value}")
        if enriched is not None and RANK[enriched] > RANK[floor]:
            priority = enriched
            reasons.append(f"raised by enriched urgency {enriched.value}")
    elif enriched is not None:
        priority = enriched
        reasons.append(f"enriched urgency {enriched.value}")
    else:
        priority = DEFAULT_PRIORITY
        reasons.append(f"no urgency known, default {DEFAULT_PRIORITY.value}")

    if (
        enrichment is not None
        and enrichment.value_signal is ValueSignal.HIGH
        and enrichment.intent in (Intent.BUY, Intent.QUOTE)
        and RANK[priority] < RANK[VALUE_BUMP_CAP]
    ):
        priority = _raise_one(priority)
        reasons.append(f"raised to {priority.value} by a high value signal")

    return PriorityDecision(priority=priority, reasons=tuple(reasons))
