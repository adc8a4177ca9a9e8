"""What enrichment reads (the lead's own facts), what it answers, and the `Enricher` protocol."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field


class Urgency(enum.StrEnum):
    """How soon the lead needs service. `UNKNOWN` only ever comes from enrichment."""

    EMERGENCY = "emergency"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"


class Intent(enum.StrEnum):
    BUY = "buy"  # wants the work done
    QUOTE = "quote"  # shopping for a price
    INFO = "info"  # has a question
    SUPPORT = "support"  # existing customer, warranty, billing
    UNKNOWN = "unknown"


class ServiceCategory(enum.StrEnum):
    HVAC = "hvac"
    PLUMBING = "plumbing"
    ELECTRICAL = "electrical"
    ROOFING = "roofing"
    PEST_CONTROL = "pest_control"
    LANDSCAPING = "landscaping"
    CLEANING = "cleaning"
    APPLIANCE_REPAIR = "appliance_repair"
    GARAGE_DOOR = "garage_door"
    LOCKSMITH = "locksmith"
    SOLAR = "solar"
    REMODELING = "remodeling"
    LEGAL = "legal"
    INSURANCE = "insurance"
    REAL_ESTATE = "real_estate"
    AUTO = "auto"
    MEDICAL = "medical"
    UNKNOWN = "unknown"


class ValueSignal(enum.StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    UNKNOWN = "unknown"


EnrichedField = Literal["intent", "urgency", "service_category", "value_signal"]
ENRICHED_FIELDS: tuple[EnrichedField, ...] = (
    "intent",
    "urgency",
    "service_category",
    "value_signal",
)


@dataclass(frozen=True, slots=True)
class LeadFacts:
    """The lead's own words and data that AI components may see and must stay grounded in.

    Deliberately without phone and email: they are not needed to classify a lead or hold a
    conversation, so they are never sent to a model.
    """

    name: str | None = None
    service: str | None = None
    message: str | None = None
    urgency: Urgency | None = None  # explicit urgency given by the source, if any
    postal_code: str | None = None
    state: str | None = None
    campaign_id: str | None = None
    custom_fields: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_lead(cls, lead: Mapping[str, Any]) -> LeadFacts:
        """Build from the contract's lead shape (unknown or empty values are dropped)."""

        def text(key: str) -> str | None:
            value = lead.get(key)
            if value is None:
                return None
            value = str(value).strip()
            return value or None

        raw_urgency = text("urgency")
        urgency: Urgency | None = None
        if raw_urgency is not None and raw_urgency.lower() in _EXPLICIT_URGENCIES:
            urgency = Urgency(raw_urgency.lower())
        custom = lead.get("custom_fields") or {}
        customs = (
            {str(k): str(v) for k, v in custom.items() if v is not None and str(v).strip()}
            if isinstance(custom, Mapping)
            else {}
        )
        return cls(
            name=text("name"),
            service=text("service"),
            message=text("message"),
            urgency=urgency,
            postal_code=text("postal_code"),
            state=text("state"),
            campaign_id=text("campaign_id"),
            custom_fields=customs,
        )

    @property
    def first_name(self) -> str | None:
        if not self.name:
            return None
        return self.name.split()[0]

    def text(self) -> str:
        """Everything the lead said in its own words, one item a line (the grounding corpus)."""
        parts = [self.service, self.message, self.campaign_id]
        parts.extend(f"{key}: {value}" for key, value in self.custom_fields.items())
        return "\n".join(p for p in parts if p)


_EXPLICIT_URGENCIES = frozenset(u.value for u in Urgency if u is not Urgency.UNKNOWN)


class Enrichment(BaseModel):
    """What enrichment concluded about one lead, with the lead's words that support it."""

    model_config = ConfigDict(frozen=True)

    intent: Intent = Intent.UNKNOWN
    urgency: Urgency = Urgency.UNKNOWN
    service_category: ServiceCategory = ServiceCategory.UNKNOWN
    value_signal: ValueSignal = ValueSignal.UNKNOWN
    evidence: dict[EnrichedField, tuple[str, ...]] = Field(default_factory=dict)
    source: Literal["local", "gemini"] = "local"
    # Fields a model answered but whose answer was not grounded in the lead, so set to unknown.
    downgraded: tuple[EnrichedField, ...] = ()
    # Why the local floor answered instead of Gemini (a `FailureReason` value), if it did.
    fallback_reason: str | None = None


class Enricher(Protocol):
    """Scores a lead from its own facts. Never raises: failures fall back to the local rules."""

    async def enrich(self, lead: LeadFacts) -> Enrichment: ...
