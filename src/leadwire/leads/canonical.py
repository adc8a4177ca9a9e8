"""The canonical lead every source adapter yields, and the direct-API lead body.

`InboundLead` is what one adapter produces per lead in a delivery: still raw (the phone as the
provider sent it), namespaced for idempotency (`natural_key`), and carrying what the intake needs
to route it (`tenant_hint`) and to complete it later (`needs_fetch`, `fetch_ref`). Normalization
(`leads.normalize`) turns it into a `NormalizedLead`; nothing here touches I/O.

`DirectLeadIn` is the body of `POST /v1/leads` and the shape the generic sources (Zapier, forms)
accept (CONTRACT.md section 5). Unknown keys are kept as custom fields.
"""

from __future__ import annotations

import enum
import ipaddress
from typing import Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    ValidationError,
    field_validator,
)

from leadwire.platform.errors import InvalidPayload

__all__ = [
    "ConsentEvidence",
    "DirectLeadIn",
    "DisclaimerResponse",
    "InboundLead",
    "LeadUpdate",
    "Urgency",
    "apply_update",
    "invalid_payload_from",
]

# Generous bounds: they stop abuse (megabyte "names") without rejecting real leads.
_SHORT = 500
_LONG = 10_000


class Urgency(enum.StrEnum):
    """How soon the lead wants help; also the name of the priority queue it lands in."""

    EMERGENCY = "emergency"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher is more urgent: emergency 3 ... low 0."""
        return _URGENCY_RANK[self]


_URGENCY_RANK = {Urgency.LOW: 0, Urgency.MEDIUM: 1, Urgency.HIGH: 2, Urgency.EMERGENCY: 3}


class DisclaimerResponse(BaseModel):
    """One answer to a consent checkbox on an ad platform's form (Meta's
    `custom_disclaimer_responses`: `{"checkbox_key": "optional_1", "is_checked": "1"}`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checkbox_key: str = Field(max_length=_SHORT)
    is_checked: bool | None = None

    @field_validator("is_checked", mode="before")
    @classmethod
    def _checked(cls, value: object) -> object:
        # Meta sends "1"/"0"; keep real booleans as they are.
        if isinstance(value, str):
            return {"1": True, "0": False, "true": True, "false": False}.get(value.strip().lower())
        return value


class ConsentEvidence(BaseModel):
    """What the lead's own delivery says about consent to be called.

    Every field is optional: the compliance gate decides whether the evidence is enough. Keys this
    model does not name (a TrustedForm certificate URL, a form version...) are kept as extra
    evidence rather than dropped.
    """

    model_config = ConfigDict(frozen=True, extra="allow", str_strip_whitespace=True)

    granted: bool | None = None
    text: str | None = Field(default=None, max_length=_LONG)
    timestamp: AwareDatetime | None = None
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=2_000)
    page_url: str | None = Field(default=None, max_length=4_000)
    source: str | None = Field(default=None, max_length=_SHORT)
    seller: str | None = Field(default=None, max_length=_SHORT)
    form_id: str | None = Field(default=None, max_length=_SHORT)
    disclaimer_text: str | None = Field(default=None, max_length=_LONG)
    disclaimer_responses: tuple[DisclaimerResponse, ...] = ()

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return str(ipaddress.ip_address(value))


class InboundLead(BaseModel):
    """One lead as an adapter read it from one delivery (see the module docstring).

    `natural_key` is namespaced by source (`meta:<leadgen_id>`, `hubspot:<objectId>`,
    `salesforce:<Notification Id>`, `google-ads:<lead_id>`, `<source>:ext:<external_id>`,
    `<source>:wh:<webhook-id>:<index>`); None means "dedupe by fingerprint".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str
    natural_key: str | None = None
    external_id: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    service: str | None = None
    urgency: Urgency | None = None
    postal_code: str | None = None
    state: str | None = None
    campaign_id: str | None = None
    message: str | None = None
    consent: ConsentEvidence | None = None
    custom_fields: dict[str, JsonValue] = Field(default_factory=dict)
    is_test: bool = False
    needs_fetch: bool = False
    fetch_ref: dict[str, str] = Field(default_factory=dict)
    tenant_hint: str | None = None
    raw: JsonValue = None


class LeadUpdate(BaseModel):
    """Fields a fetcher learned about a lead (Meta Graph, HubSpot CRM), to merge into it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_id: str | None = None
    name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None
    service: str | None = None
    urgency: Urgency | None = None
    postal_code: str | None = None
    state: str | None = None
    campaign_id: str | None = None
    message: str | None = None
    consent: ConsentEvidence | None = None
    custom_fields: dict[str, JsonValue] = Field(default_factory=dict)


_UPDATABLE = (
    "external_id",
    "name",
    "first_name",
    "last_name",
    "phone",
    "email",
    "service",
    "urgency",
    "postal_code",
    "state",
    "campaign_id",
    "message",
    "consent",
)


def apply_update(lead: InboundLead, update: LeadUpdate) -> InboundLead:
    """Merge fetched data into a lead: what the provider's API says wins over the webhook's
    (the webhook carried ids only), custom fields are merged key by key, and the lead no longer
    needs fetching."""
    changes: dict[str, Any] = {
        name: getattr(update, name) for name in _UPDATABLE if getattr(update, name) is not None
    }
    changes["custom_fields"] = {**lead.custom_fields, **update.custom_fields}
    changes["needs_fetch"] = False
    return lead.model_copy(update=changes)


class DirectLeadIn(BaseModel):
    """The body of `POST /v1/leads` (CONTRACT.md section 5).

    `phone` is required here (a developer calling the API gets a precise 422); a phone that is
    present but unusable is still stored, as `rejected`/`invalid_phone`. Keys the contract does
    not name are moved into `custom_fields` (explicit `custom_fields` entries win on clashes).
    Numbers sent where strings are expected (`"phone": 15125550100`) are accepted as strings.
    """

    model_config = ConfigDict(
        frozen=True, extra="allow", str_strip_whitespace=True, coerce_numbers_to_str=True
    )

    external_id: str | None = Field(default=None, min_length=1, max_length=_SHORT)
    name: str | None = Field(default=None, max_length=_SHORT)
    first_name: str | None = Field(default=None, max_length=_SHORT)
    last_name: str | None = Field(default=None, max_length=_SHORT)
    phone: str = Field(min_length=1, max_length=64)
    email: str | None = Field(default=None, max_length=_SHORT)
    service: str | None = Field(default=None, max_length=_SHORT)
    urgency: Urgency | None = None
    postal_code: str | None = Field(default=None, max_length=32)
    state: str | None = Field(default=None, max_length=64)
    campaign_id: str | None = Field(default=None, max_length=_SHORT)
    message: str | None = Field(default=None, max_length=_LONG)
    consent: ConsentEvidence | None = None
    custom_fields: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("urgency", mode="before")
    @classmethod
    def _urgency_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    def custom(self) -> dict[str, JsonValue]:
        """Unknown top-level keys plus the explicit `custom_fields` (explicit wins)."""
        # Extras come from parsed JSON (or form fields), so they are JSON values already.
        extra: dict[str, JsonValue] = dict(self.model_extra or {})
        return {**extra, **self.custom_fields}

    def to_inbound(
        self, *, source: str, raw: JsonValue, natural_key: str | None = None
    ) -> InboundLead:
        key = natural_key
        if key is None and self.external_id is not None:
            key = f"{source}:ext:{self.external_id}"
        return InboundLead(
            source=source,
            natural_key=key,
            external_id=self.external_id,
            name=self.name,
            first_name=self.first_name,
            last_name=self.last_name,
            phone=self.phone,
            email=self.email,
            service=self.service,
            urgency=self.urgency,
            postal_code=self.postal_code,
            state=self.state,
            campaign_id=self.campaign_id,
            message=self.message,
            consent=self.consent,
            custom_fields=self.custom(),
            raw=raw,
        )


def invalid_payload_from(error: ValidationError, *, prefix: str = "") -> InvalidPayload:
    """The first pydantic error as a 422 naming the field (`consent.timestamp`, `[1].phone`)."""
    first = error.errors(include_url=False, include_input=False)[0]
    path = prefix
    for part in first["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    message = first["msg"]
    return InvalidPayload(f"{path or 'body'}: {message}", field=path or None)
