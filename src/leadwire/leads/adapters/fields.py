"""Recognizing lead fields by name, across providers and hand-built forms.

Every source names the same things differently (`phone_number`, `MobilePhone`, `PHONE_NUMBER`,
`tel`). Names are compared by their `field_key`: lower case, runs of anything but letters and
digits turned into one `_`, trimmed (`"Phone Number"`, `phone-number` and `PHONE_NUMBER` are all
`phone_number`). For each canonical field the aliases are tried in order; the first one present
with a non-empty value wins and the others stay as custom fields, so nothing is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import JsonValue

from leadwire.leads.canonical import Urgency

__all__ = [
    "ALIASES",
    "CANONICAL_FIELDS",
    "MappedFields",
    "field_key",
    "map_fields",
    "scalar_text",
    "take_urgency",
]

CANONICAL_FIELDS = (
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
)

ALIASES: Mapping[str, tuple[str, ...]] = {
    "external_id": ("external_id", "externalid", "lead_id", "leadid"),
    "name": ("name", "full_name", "fullname", "your_name", "contact_name"),
    "first_name": ("first_name", "firstname", "fname", "given_name", "givenname"),
    "last_name": ("last_name", "lastname", "lname", "surname", "family_name", "familyname"),
    "phone": (
        "phone",
        "phone_number",
        "phonenumber",
        "mobile",
        "mobile_phone",
        "mobilephone",
        "mobile_number",
        "cell",
        "cell_phone",
        "cellphone",
        "tel",
        "telephone",
        "work_phone",
        "work_phone_number",
    ),
    "email": ("email", "email_address", "emailaddress", "e_mail", "work_email"),
    "service": ("service", "service_type", "service_needed", "services"),
    "urgency": ("urgency",),
    "postal_code": (
        "postal_code",
        "postalcode",
        "zip",
        "zipcode",
        "zip_code",
        "postcode",
        "post_code",
        "mailingpostalcode",
    ),
    "state": ("state", "state_code", "statecode", "region", "mailingstate"),
    "campaign_id": ("campaign_id", "campaignid", "campaign", "utm_campaign"),
    "message": ("message", "comments", "comment", "notes", "description", "details"),
}

_KEY_RE = re.compile(r"[^a-z0-9]+")


def field_key(name: str) -> str:
    """The comparison form of a field name (see the module docstring)."""
    return _KEY_RE.sub("_", name.lower()).strip("_")


_ALIAS_INDEX: dict[str, tuple[str, int]] = {
    alias: (canonical, rank)
    for canonical, aliases in ALIASES.items()
    for rank, alias in enumerate(aliases)
}


def scalar_text(value: Any) -> str | None:
    """A field value as trimmed text, or None when it has none.

    Integral floats lose their `.0` (a ZIP code sent as 78701.0); lists give their first
    non-empty element (Meta's `values`, a repeated form field); objects and booleans are not text.
    """
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list):
        for item in value:
            text = scalar_text(item)
            if text is not None:
                return text
    return None


@dataclass
class MappedFields:
    """Canonical field values recognized by name, and everything else."""

    fields: dict[str, str] = field(default_factory=dict)
    custom: dict[str, JsonValue] = field(default_factory=dict)


def map_fields(
    data: Mapping[str, JsonValue], *, extra_aliases: Mapping[str, str] | None = None
) -> MappedFields:
    """Split a flat record into canonical fields (by alias, best-ranked alias wins) and custom
    fields (every other key, and losing aliases, kept with their original names and values).

    `extra_aliases` adds provider-specific names (`{"mobilephone": "phone"}`), ranked after the
    common ones.
    """
    best: dict[str, tuple[int, str, str]] = {}  # canonical -> (rank, original key, text)
    extras = {field_key(k): v for k, v in (extra_aliases or {}).items()}
    for key, value in data.items():
        norm = field_key(key)
        if norm in _ALIAS_INDEX:
            canonical, rank = _ALIAS_INDEX[norm]
        elif norm in extras:
            canonical, rank = extras[norm], 1_000
        else:
            continue
        text = scalar_text(value)
        if text is None:
            continue
        if canonical not in best or rank < best[canonical][0]:
            best[canonical] = (rank, key, text)
    used = {key for _, key, _ in best.values()}
    result = MappedFields(fields={name: text for name, (_, _, text) in best.items()})
    for key, value in data.items():
        if key in used:
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        result.custom[key] = value
    return result


def take_urgency(mapped: MappedFields) -> Urgency | None:
    """Remove `urgency` from the mapped fields: an explicit level when it is one of
    `emergency|high|medium|low` (any case), else the text is kept as a custom field (urgency
    detection reads it) instead of refusing the lead."""
    text = mapped.fields.pop("urgency", None)
    if text is None:
        return None
    try:
        return Urgency(text.strip().lower())
    except ValueError:
        mapped.custom.setdefault("urgency", text)
        return None
