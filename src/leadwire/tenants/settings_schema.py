"""Tenant settings, the body of `GET`/`PATCH /v1/settings` (CONTRACT.md section 5).

Secrets (tokens and source secrets) are write-only: they are split out, encrypted at rest,
and read back as "***". `PATCH` merges: objects merge key by key, anything else replaces.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, field_validator, model_validator

SECRET_MASK = "***"  # noqa: S105 - the mask, not a secret
# (source, field) pairs that are secrets: stored encrypted, never read back.
SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "meta": ("page_access_token", "app_secret", "verify_token"),
    "hubspot": ("access_token", "client_secret"),
    "google_ads": ("google_key",),
    "zapier": ("secret",),
    "form": ("secret",),
}
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$")
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_WORKDAYS: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri", "sat")


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError(f"{value!r} is not an E.164 phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"{value!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MetaSource(_Strict):
    page_ids: list[str] = Field(default_factory=list)
    page_access_token: str | None = None
    app_secret: str | None = None
    verify_token: str | None = Field(default=None, min_length=8)

    @field_validator("page_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        for page_id in value:
            if not page_id.isdigit():
                raise ValueError(f"page id {page_id!r} must be digits")
        return value


class HubSpotSource(_Strict):
    portal_id: int | None = Field(default=None, gt=0)
    access_token: str | None = None
    client_secret: str | None = None


class SalesforceSource(_Strict):
    organization_id: str | None = Field(
        default=None, pattern=r"^00D[A-Za-z0-9]{12}([A-Za-z0-9]{3})?$"
    )
    # Optional: accept outbound messages only from these networks (Salesforce's published
    # ranges); outbound messages carry no signature.
    allowed_networks: list[IPvAnyNetwork] = Field(default_factory=list)


class GoogleAdsSource(_Strict):
    google_key: str | None = Field(default=None, min_length=8)


class ZapierSource(_Strict):
    secret: str | None = Field(default=None, min_length=16)


class FormSource(_Strict):
    secret: str | None = Field(default=None, min_length=16)
    public: bool = False
    allowed_origins: list[str] = Field(default_factory=list)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"origin {origin!r} must be scheme://host[:port] with no path")
        return value


class Sources(_Strict):
    meta: MetaSource | None = None
    hubspot: HubSpotSource | None = None
    salesforce: SalesforceSource | None = None
    google_ads: GoogleAdsSource | None = None
    zapier: ZapierSource | None = None
    form: FormSource | None = None


class Limits(_Strict):
    calls_per_minute: int = Field(default=10, ge=0, le=10_000)
    calls_per_hour: int = Field(default=100, ge=0, le=100_000)
    calls_per_day: int = Field(default=1000, ge=0, le=1_000_000)
    concurrent_calls: int = Field(default=5, ge=0, le=1000)
    daily_budget_usd: float = Field(default=100.0, ge=0, le=1_000_000)
    priority_headroom_pct: int = Field(default=20, ge=0, le=100)
    max_attempts_per_lead: int = Field(default=3, ge=1, le=20)


class DialDelays(_Strict):
    emergency: int = Field(default=0, ge=0, le=86_400)
    high: int = Field(default=30, ge=0, le=86_400)
    medium: int = Field(default=300, ge=0, le=86_400)
    low: int = Field(default=1800, ge=0, le=86_400)


class CallingHours(_Strict):
    start: str = "08:00"
    end: str = "21:00"
    days: list[Day] = Field(default_factory=lambda: list(_WORKDAYS))

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError("must be HH:MM (24-hour)")
        return value

    @model_validator(mode="after")
    def _order(self) -> CallingHours:
        if self.start >= self.end:
            raise ValueError("start must be before end")
        if not self.days:
            raise ValueError("days must name at least one day")
        return self


class Consent(_Strict):
    required: bool = True
    language: str | None = Field(default=None, max_length=5000)


class Agent(_Strict):
    business_name: str | None = Field(default=None, max_length=200)
    script: str | None = Field(default=None, max_length=20_000)
    transfer_number: str | None = None
    voicemail: str | None = Field(default=None, max_length=2000)
    voice: str | None = Field(default=None, max_length=100)
    language: str = Field(default="en-US", max_length=16)
    welcome_greeting: str | None = Field(default=None, max_length=1000)
    machine_handling: Literal["voicemail", "retry"] = "voicemail"
    max_call_seconds: int = Field(default=600, ge=30, le=3600)

    @field_validator("transfer_number")
    @classmethod
    def _transfer(cls, value: str | None) -> str | None:
        return _e164(value) if value else value


def _delays(value: list[int]) -> list[int]:
    if len(value) > 10:
        raise ValueError("at most 10 delays")
    for delay in value:
        if not 0 <= delay <= 7 * 86_400:
            raise ValueError("each delay must be 0..604800 seconds")
    return value


class CallRetry(_Strict):
    """When a call that did not reach a person is tried again (telephony.outcomes).

    The n-th attempt's outcome waits the n-th delay (the last repeats); an empty list means
    that outcome is not retried. `machine_handling` unset follows `agent.machine_handling`.
    """

    busy_delays_s: list[int] = Field(default_factory=lambda: [300, 1200, 3600])
    no_answer_delays_s: list[int] = Field(default_factory=lambda: [600, 3600, 14400])
    machine_delays_s: list[int] = Field(default_factory=lambda: [3600, 14400])
    machine_handling: Literal["voicemail", "retry"] | None = None

    @field_validator("busy_delays_s", "no_answer_delays_s", "machine_delays_s")
    @classmethod
    def _check_delays(cls, value: list[int]) -> list[int]:
        return _delays(value)


class TenantSettings(_Strict):
    default_region: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    timezone: str = "America/New_York"
    sources: Sources = Field(default_factory=Sources)
    field_map: dict[str, str] = Field(default_factory=dict)
    limits: Limits = Field(default_factory=Limits)
    dial_delays_s: DialDelays = Field(default_factory=DialDelays)
    calling_hours: CallingHours = Field(default_factory=CallingHours)
    caller_ids: list[str] = Field(default_factory=list)
    call_retry: CallRetry = Field(default_factory=CallRetry)
    consent: Consent = Field(default_factory=Consent)
    agent: Agent = Field(default_factory=Agent)
    escalation_webhook_url: str | None = Field(default=None, pattern=r"^https?://\S+$")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value

    @field_validator("caller_ids")
    @classmethod
    def _caller_ids(cls, value: list[str]) -> list[str]:
        return [_e164(v) for v in value]

    @field_validator("field_map")
    @classmethod
    def _field_map(cls, value: dict[str, str]) -> dict[str, str]:
        allowed = {
            "name", "first_name", "last_name", "phone", "email", "service", "urgency",
            "postal_code", "state", "campaign_id", "message", "external_id",
        }  # fmt: skip
        for key, target in value.items():
            if target not in allowed and not target.startswith("custom_fields."):
                raise ValueError(
                    f"field_map[{key!r}] -> {target!r}: target must be one of "
                    f"{', '.join(sorted(allowed))} or custom_fields.<name>"
                )
        return value


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge `patch` into `base`: objects merge, `null` removes, anything else replaces."""
    merged = dict(base)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def split_secrets(settings: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public settings with secrets removed, {"<source>.<field>": secret})."""
    public = {k: v for k, v in settings.items() if k != "sources"}
    sources: dict[str, Any] = {}
    found: dict[str, Any] = {}
    for source, block in (settings.get("sources") or {}).items():
        if not isinstance(block, dict):
            continue
        clean = dict(block)
        for name in SECRET_FIELDS.get(source, ()):
            value = clean.pop(name, None)
            if value is not None and value != SECRET_MASK:
                found[f"{source}.{name}"] = value
        sources[source] = clean
    public["sources"] = sources
    return public, found


def masked_view(public: dict[str, Any], secrets: dict[str, Any]) -> dict[str, Any]:
    """The settings as read back: every stored secret shown as "***"."""
    view = TenantSettings.model_validate(public).model_dump(mode="json")
    view["sources"] = {
        name: {k: v for k, v in block.items() if v is not None}
        for name, block in view["sources"].items()
        if block is not None
    }
    for key in secrets:
        source, name = key.split(".", 1)
        block = view["sources"].get(source)
        if block is None:
            block = view["sources"][source] = {}
        block[name] = SECRET_MASK
    return view
