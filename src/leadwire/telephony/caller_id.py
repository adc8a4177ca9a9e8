"""Which of the tenant's numbers to present to the callee.

People answer local numbers more often, so the choice prefers a number with the callee's area
code, then one in the callee's state, then any. Among equals it is deterministic per callee
(a hash of callee and number), so a lead sees the same number on every attempt and can call
it back, while different leads spread over the tenant's numbers.

Only numbers the tenant listed are candidates; whether the provider lets us present them
(`TelephonyProvider.owns_number`) is checked when the settings are saved, and again by the
compliance gate (reference/compliance.md §1.9: present only numbers owned by the seller).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from phonenumbers import geocoder

# `description_for_number` gives "City, ST" for known exchanges and a full state name for area
# codes alone ("Texas"); map the names back to postal codes.
_STATE_CODES: dict[str, str] = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "District of Columbia": "DC",
    "Washington D.C.": "DC", "Florida": "FL", "Georgia": "GA", "Hawaii": "HI", "Idaho": "ID",
    "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS", "Kentucky": "KY",
    "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO",
    "Montana": "MT", "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH",
    "New Jersey": "NJ", "New Mexico": "NM", "New York": "NY", "North Carolina": "NC",
    "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK", "Oregon": "OR",
    "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC", "South Dakota": "SD",
    "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT", "Virginia": "VA",
    "Washington": "WA", "West Virginia": "WV", "Wisconsin": "WI", "Wyoming": "WY",
    "Puerto Rico": "PR", "Guam": "GU", "US Virgin Islands": "VI",
}  # fmt: skip


def _parse(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None
    return number if phonenumbers.is_valid_number(number) else None


@dataclass(frozen=True, slots=True)
class _Facts:
    valid: bool
    area_code: str | None
    state: str | None


@functools.lru_cache(maxsize=8192)
def _facts(e164: str) -> _Facts:
    """What the choice needs of a number, parsed once: a tenant's caller IDs are ranked for
    every call, and phonenumbers' validation and geocoding cost far more than the lookup."""
    number = _parse(e164)
    if number is None:
        return _Facts(valid=False, area_code=None, state=None)
    if number.country_code != 1:
        return _Facts(valid=True, area_code=None, state=None)
    description: str = geocoder.description_for_number(number, "en")
    if ", " in description:
        suffix = description.rsplit(", ", 1)[1]
        state = suffix if len(suffix) == 2 and suffix.isupper() else None
    else:
        state = _STATE_CODES.get(description)
    return _Facts(valid=True, area_code=str(number.national_number)[:3], state=state)


def area_code(e164: str) -> str | None:
    """The NANP area code (NPA) of a +1 number."""
    return _facts(e164).area_code


def state_of(e164: str) -> str | None:
    """The US state of a number's exchange or area code, from phonenumbers' geocoder."""
    return _facts(e164).state


def _tiebreak(callee: str, candidate: str) -> str:
    return hashlib.sha256(f"{callee}|{candidate}".encode()).hexdigest()


def choose_caller_id(*, callee: str, caller_ids: Sequence[str]) -> str | None:
    """The caller ID to present to `callee`, or None when the tenant has no usable number."""
    candidates = sorted({c for c in caller_ids if _facts(c).valid})
    if not candidates:
        return None
    callee_area = area_code(callee)
    callee_state = state_of(callee)

    def rank(candidate: str) -> tuple[int, str]:
        if callee_area is not None and area_code(candidate) == callee_area:
            closeness = 0
        elif callee_state is not None and state_of(candidate) == callee_state:
            closeness = 1
        else:
            closeness = 2
        return closeness, _tiebreak(callee, candidate)

    return min(candidates, key=rank)
