"""The one normalization step every adapter's output goes through.

`normalize(lead, default_region=..., field_map=...)` applies the tenant's `field_map`, then
turns the raw fields into stored forms: the phone to E.164 with what phonenumbers knows about it
(`PhoneInfo`), names trimmed and completed (full <-> first/last), the email lower-cased and
checked, the state as a USPS code, the ZIP as 5 digits. Nothing here is fatal: a value that
cannot be normalized is kept aside in `unnormalized`, and an unusable phone makes the lead
`rejection="invalid_phone"` (stored, never dialed). `fingerprint` is the dedupe key of leads
without a natural key.
"""

from __future__ import annotations

import enum
import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from typing import Literal

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult
from phonenumbers import timezone as phone_timezone
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from leadwire.leads.adapters.fields import field_key, scalar_text
from leadwire.leads.canonical import ConsentEvidence, InboundLead, Urgency

__all__ = [
    "FIELD_MAP_TARGETS",
    "NormalizedLead",
    "NumberType",
    "PhoneInfo",
    "apply_field_map",
    "fingerprint",
    "normalize",
    "normalize_email",
    "normalize_postal_code",
    "normalize_state",
    "parse_phone",
    "resolve_names",
]

FIELD_MAP_TARGETS = frozenset(
    {
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
    }
)
"""Canonical fields a tenant's `field_map` may point a custom key at."""

_US_STYLE_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})
_MAX_PHONE_INPUT = 64


class NumberType(enum.StrEnum):
    FIXED_LINE = "fixed_line"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"


_NUMBER_TYPES = {
    PhoneNumberType.FIXED_LINE: NumberType.FIXED_LINE,
    PhoneNumberType.MOBILE: NumberType.MOBILE,
    PhoneNumberType.FIXED_LINE_OR_MOBILE: NumberType.FIXED_LINE_OR_MOBILE,
    PhoneNumberType.TOLL_FREE: NumberType.TOLL_FREE,
    PhoneNumberType.PREMIUM_RATE: NumberType.PREMIUM_RATE,
    PhoneNumberType.SHARED_COST: NumberType.SHARED_COST,
    PhoneNumberType.VOIP: NumberType.VOIP,
    PhoneNumberType.PERSONAL_NUMBER: NumberType.PERSONAL_NUMBER,
    PhoneNumberType.PAGER: NumberType.PAGER,
    PhoneNumberType.UAN: NumberType.UAN,
    PhoneNumberType.VOICEMAIL: NumberType.VOICEMAIL,
}

# Valid numbers that are still no one's personal line to call about a lead: toll-free and
# shared-cost numbers have no location (no calling window can be computed), premium-rate ones
# cost the caller money, the rest reach no person.
UNUSABLE_TYPES = frozenset(
    {
        NumberType.TOLL_FREE,
        NumberType.PREMIUM_RATE,
        NumberType.SHARED_COST,
        NumberType.UAN,
        NumberType.PAGER,
        NumberType.VOICEMAIL,
    }
)

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "invalid_country_code",
    NumberParseException.NOT_A_NUMBER: "not_a_number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too_short",
    NumberParseException.TOO_SHORT_NSN: "too_short",
    NumberParseException.TOO_LONG: "too_long",
}
_POSSIBLE_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
    ValidationResult.TOO_SHORT: "too_short",
    ValidationResult.INVALID_LENGTH: "invalid_length",
    ValidationResult.TOO_LONG: "too_long",
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY: "local_only",
}


class PhoneInfo(BaseModel):
    """What is known about a lead's phone number.

    `valid` is phonenumbers' verdict (assigned ranges only: 555-01xx fiction is invalid);
    `usable` additionally excludes the `UNUSABLE_TYPES`. `reason` says why a number is not
    usable: `missing`, `not_a_number`, `too_short`, `too_long`, `invalid_length`,
    `invalid_country_code`, `local_only`, `invalid_number`, or the number type (`toll_free`...).
    US numbers are `fixed_line_or_mobile`: the numbering plan cannot tell them apart.
    `time_zones` are the IANA zones of the number's range (empty when unknown); with
    `area_code` they are candidates for the calling window, not proof of where the person is.
    """

    model_config = ConfigDict(frozen=True)

    e164: str | None = None
    valid: bool = False
    usable: bool = False
    reason: str | None = None
    number_type: NumberType | None = None
    region: str | None = None
    time_zones: tuple[str, ...] = ()
    area_code: str | None = None
    extension: str | None = None


def parse_phone(raw: str | None, *, default_region: str) -> PhoneInfo:
    """Parse a phone as typed by the lead; national formats are read in `default_region`."""
    text = (raw or "").strip()
    if not text:
        return PhoneInfo(reason="missing")
    if len(text) > _MAX_PHONE_INPUT:
        return PhoneInfo(reason="too_long")
    try:
        number = phonenumbers.parse(text, default_region.upper())
    except NumberParseException as exc:
        return PhoneInfo(reason=_PARSE_REASONS.get(exc.error_type, "not_a_number"))
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible != ValidationResult.IS_POSSIBLE:
        return PhoneInfo(reason=_POSSIBLE_REASONS.get(possible, "invalid_number"))
    if not phonenumbers.is_valid_number(number):
        return PhoneInfo(reason="invalid_number")
    number_type = _NUMBER_TYPES.get(phonenumbers.number_type(number), NumberType.UNKNOWN)
    zones = tuple(
        zone
        for zone in phone_timezone.time_zones_for_number(number)
        if zone != phone_timezone.UNKNOWN_TIMEZONE
    )
    national = phonenumbers.national_significant_number(number)
    area_length = phonenumbers.length_of_geographical_area_code(number)
    usable = number_type not in UNUSABLE_TYPES
    return PhoneInfo(
        e164=phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164),
        valid=True,
        usable=usable,
        reason=None if usable else number_type.value,
        number_type=number_type,
        region=phonenumbers.region_code_for_number(number),
        time_zones=zones,
        area_code=national[:area_length] if area_length else None,
        extension=number.extension or None,
    )


_SPACES = re.compile(r"\s+")
_PUNCTUATION = re.compile(r"[^\w\s]")

# USPS codes: the states, DC, the territories and the military "states".
_STATES = {
    "AL": "Alabama", "AK": "Alaska", "AZ": "Arizona", "AR": "Arkansas", "CA": "California",
    "CO": "Colorado", "CT": "Connecticut", "DE": "Delaware", "FL": "Florida", "GA": "Georgia",
    "HI": "Hawaii", "ID": "Idaho", "IL": "Illinois", "IN": "Indiana", "IA": "Iowa",
    "KS": "Kansas", "KY": "Kentucky", "LA": "Louisiana", "ME": "Maine", "MD": "Maryland",
    "MA": "Massachusetts", "MI": "Michigan", "MN": "Minnesota", "MS": "Mississippi",
    "MO": "Missouri", "MT": "Montana", "NE": "Nebraska", "NV": "Nevada", "NH": "New Hampshire",
    "NJ": "New Jersey", "NM": "New Mexico", "NY": "New York", "NC": "North Carolina",
    "ND": "North Dakota", "OH": "Ohio", "OK": "Oklahoma", "OR": "Oregon", "PA": "Pennsylvania",
    "RI": "Rhode Island", "SC": "South Carolina", "SD": "South Dakota", "TN": "Tennessee",
    "TX": "Texas", "UT": "Utah", "VT": "Vermont", "VA": "Virginia", "WA": "Washington",
    "WV": "West Virginia", "WI": "Wisconsin", "WY": "Wyoming",
    "DC": "District of Columbia", "PR": "Puerto Rico", "VI": "U.S. Virgin Islands",
    "GU": "Guam", "AS": "American Samoa", "MP": "Northern Mariana Islands",
    "AA": "Armed Forces Americas", "AE": "Armed Forces Europe", "AP": "Armed Forces Pacific",
}  # fmt: skip
STATE_CODES = frozenset(_STATES)


def _state_key(text: str) -> str:
    return _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip().lower()


STATE_NAMES: Mapping[str, str] = {
    **{_state_key(name): code for code, name in _STATES.items()},
    "washington dc": "DC",
    "washington d c": "DC",
    "virgin islands": "VI",
    "us virgin islands": "VI",
}


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    text = _SPACES.sub(" ", value).strip().strip(",").strip()
    return text or None


def resolve_names(
    name: str | None, first_name: str | None, last_name: str | None
) -> tuple[str | None, str | None, str | None]:
    """Trimmed `(full, first, last)`, each completed from the others.

    A full name is split at its first space ("Mary Ann Smith" -> "Mary" / "Ann Smith"), or at
    its comma when written "Smith, Mary". Capitalization is kept as typed ("McDonald",
    "van der Berg").
    """
    full, first, last = _clean(name), _clean(first_name), _clean(last_name)
    if full is None and (first or last):
        full = " ".join(part for part in (first, last) if part)
    if full is not None and first is None and last is None:
        before, comma, after = full.partition(",")
        if comma and before.strip() and after.strip():
            last, first = before.strip(), after.strip()
            full = f"{first} {last}"
        else:
            head, _, tail = full.partition(" ")
            first, last = head, (tail or None)
    return full, first, last


_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$"
)


def normalize_email(raw: str | None) -> str | None:
    """The address lower-cased, or None when it is not a syntactically plausible address."""
    if raw is None:
        return None
    text = raw.strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    text = text.lower()
    local, _, _ = text.partition("@")
    if len(text) > 254 or len(local) > 64 or not _EMAIL.match(text):
        return None
    return text


def normalize_state(raw: str | None, *, default_region: str) -> str | None:
    """A USPS code (`TX`) from a code or a full name, any case and punctuation; None when it is
    neither. Outside the US numbering regions the value is only trimmed."""
    text = _clean(raw)
    if text is None:
        return None
    if default_region.upper() not in _US_STYLE_REGIONS:
        return text
    key = _state_key(text)
    if len(key.replace(" ", "")) == 2 and key.replace(" ", "").upper() in STATE_CODES:
        return key.replace(" ", "").upper()
    return STATE_NAMES.get(key)


_ZIP = re.compile(r"^(\d{5})(?:[\s-]?\d{4})?$")
_SHORT_ZIP = re.compile(r"^\d{3,4}$")


def normalize_postal_code(raw: str | None, *, default_region: str) -> str | None:
    """US-style regions: the 5-digit ZIP (ZIP+4 cut; 3-4 digits are left-padded, since a
    spreadsheet or a JSON number drops the leading zeros of New England ZIPs). Elsewhere the
    value trimmed and upper-cased. None when a US value is not a ZIP."""
    text = _clean(raw)
    if text is None:
        return None
    if default_region.upper() not in _US_STYLE_REGIONS:
        return text.upper()
    match = _ZIP.match(text)
    if match:
        return match.group(1)
    if _SHORT_ZIP.match(text):
        return text.zfill(5)
    return None


def _field_map_text(value: JsonValue) -> str | None:
    if isinstance(value, list):
        parts = [text for text in (scalar_text(item) for item in value) if text]
        return ", ".join(parts) or None
    return scalar_text(value)


def apply_field_map(lead: InboundLead, field_map: Mapping[str, str] | None) -> InboundLead:
    """Move custom fields the tenant mapped (`{"what_service_do_you_need": "service"}`) into
    their canonical field. Keys match by `field_key` (case and punctuation aside); the tenant's
    explicit mapping wins over what the adapter recognized; a multi-answer value is joined with
    ", "; an urgency that is not a level, or a target outside `FIELD_MAP_TARGETS`, is ignored."""
    if not field_map or not lead.custom_fields:
        return lead
    targets = {field_key(key): target for key, target in field_map.items()}
    updates: dict[str, object] = {}
    custom = dict(lead.custom_fields)
    for key, value in lead.custom_fields.items():
        target = targets.get(field_key(key))
        if target not in FIELD_MAP_TARGETS or target in updates:
            continue
        text = _field_map_text(value)
        if text is None:
            continue
        if target == "urgency":
            try:
                updates[target] = Urgency(text.lower())
            except ValueError:
                continue
        else:
            updates[target] = text
        del custom[key]
    if not updates:
        return lead
    return lead.model_copy(update={**updates, "custom_fields": custom})


class NormalizedLead(BaseModel):
    """A lead ready to store: normalized fields plus everything the adapter read."""

    model_config = ConfigDict(frozen=True)

    source: str
    natural_key: str | None
    external_id: str | None
    name: str | None
    first_name: str | None
    last_name: str | None
    phone: PhoneInfo
    phone_raw: str | None
    email: str | None
    service: str | None
    urgency: Urgency | None
    postal_code: str | None
    state: str | None
    campaign_id: str | None
    message: str | None
    consent: ConsentEvidence | None
    custom_fields: dict[str, JsonValue] = Field(default_factory=dict)
    is_test: bool = False
    needs_fetch: bool = False
    fetch_ref: dict[str, str] = Field(default_factory=dict)
    tenant_hint: str | None = None
    raw: JsonValue = None
    unnormalized: dict[str, str] = Field(default_factory=dict)
    """Raw values that could not be normalized (`email`, `state`, `postal_code`), kept aside."""
    rejection: Literal["invalid_phone"] | None = None
    """Set when the lead must be stored `rejected` and never dialed."""


def normalize(
    lead: InboundLead,
    *,
    default_region: str,
    field_map: Mapping[str, str] | None = None,
) -> NormalizedLead:
    """The shared step from an adapter's `InboundLead` to a storable `NormalizedLead`.

    A lead that still `needs_fetch` has no phone yet and is not rejected for it; normalize it
    again after `apply_update` merged the fetched fields.
    """
    lead = apply_field_map(lead, field_map)
    phone = parse_phone(lead.phone, default_region=default_region)
    full, first, last = resolve_names(lead.name, lead.first_name, lead.last_name)
    email = normalize_email(lead.email)
    state = normalize_state(lead.state, default_region=default_region)
    postal_code = normalize_postal_code(lead.postal_code, default_region=default_region)
    unnormalized: dict[str, str] = {}
    for name, raw, value in (
        ("email", lead.email, email),
        ("state", lead.state, state),
        ("postal_code", lead.postal_code, postal_code),
    ):
        if raw is not None and raw.strip() and value is None:
            unnormalized[name] = raw
    rejected = not lead.needs_fetch and not phone.usable
    return NormalizedLead(
        source=lead.source,
        natural_key=lead.natural_key,
        external_id=lead.external_id,
        name=full,
        first_name=first,
        last_name=last,
        phone=phone,
        phone_raw=lead.phone,
        email=email,
        service=_clean(lead.service),
        urgency=lead.urgency,
        postal_code=postal_code,
        state=state,
        campaign_id=_clean(lead.campaign_id),
        message=lead.message.strip() if lead.message and lead.message.strip() else None,
        consent=lead.consent,
        custom_fields=lead.custom_fields,
        is_test=lead.is_test,
        needs_fetch=lead.needs_fetch,
        fetch_ref=lead.fetch_ref,
        tenant_hint=lead.tenant_hint,
        raw=lead.raw,
        unnormalized=unnormalized,
        rejection="invalid_phone" if rejected else None,
    )


def fingerprint(
    tenant_id: str | uuid.UUID | int,
    e164: str | None,
    email: str | None,
    campaign_id: str | None,
) -> str:
    """Deterministic dedupe key (SHA-256 hex) of a lead without a natural key.

    The parts are encoded as a JSON array, so no choice of values can make two different
    tuples collide by concatenation. The email is compared lower-cased and trimmed. The dedupe
    window is the store's business (e.g. unique among leads of the last 24 hours).
    """
    parts = [
        str(tenant_id),
        e164 or "",
        (email or "").strip().lower(),
        (campaign_id or "").strip(),
    ]
    encoded = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode()).hexdigest()
