"""Where might the called party be? The candidate (state, IANA zone) set of reference section 3.

Area codes say where a number block was assigned, not where its owner lives now, and a stated
state or ZIP may disagree with the number. So nothing here *chooses* a location: every plausible
(state, zone) pair becomes a candidate, and the gate applies the most restrictive combination
(all windows intersected, any Sunday/holiday ban, the lowest attempt cap).

Sources of candidates (each candidate remembers which produced it):

* `area_code`: every state and every zone the NPA serves (`data/area_codes.csv`; split-zone
  NPAs list all their zones, whatever the library answers for one exchange);
* `number_prefix`: the zones `phonenumbers` reports for the number's own prefix, paired with the
  area code's state(s);
* `stated_state`: the lead's state field, with every zone of that state, or only the ZIP's zones
  when the ZIP lies in that same state;
* `postal_code`: the 3-digit ZIP prefix's state with the zones of that prefix range.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType
from phonenumbers import timezone as phone_timezone

from leadwire.compliance._data import read_rows
from leadwire.compliance.errors import ComplianceDataError

UNKNOWN_ZONE = "Etc/Unknown"

STATE_NAMES: Mapping[str, str] = {
    "ALABAMA": "AL", "ALASKA": "AK", "ARIZONA": "AZ", "ARKANSAS": "AR", "CALIFORNIA": "CA",
    "COLORADO": "CO", "CONNECTICUT": "CT", "DELAWARE": "DE", "DISTRICT OF COLUMBIA": "DC",
    "FLORIDA": "FL", "GEORGIA": "GA", "HAWAII": "HI", "IDAHO": "ID", "ILLINOIS": "IL",
    "INDIANA": "IN", "IOWA": "IA", "KANSAS": "KS", "KENTUCKY": "KY", "LOUISIANA": "LA",
    "MAINE": "ME", "MARYLAND": "MD", "MASSACHUSETTS": "MA", "MICHIGAN": "MI", "MINNESOTA": "MN",
    "MISSISSIPPI": "MS", "MISSOURI": "MO", "MONTANA": "MT", "NEBRASKA": "NE", "NEVADA": "NV",
    "NEW HAMPSHIRE": "NH", "NEW JERSEY": "NJ", "NEW MEXICO": "NM", "NEW YORK": "NY",
    "NORTH CAROLINA": "NC", "NORTH DAKOTA": "ND", "OHIO": "OH", "OKLAHOMA": "OK", "OREGON": "OR",
    "PENNSYLVANIA": "PA", "RHODE ISLAND": "RI", "SOUTH CAROLINA": "SC", "SOUTH DAKOTA": "SD",
    "TENNESSEE": "TN", "TEXAS": "TX", "UTAH": "UT", "VERMONT": "VT", "VIRGINIA": "VA",
    "WASHINGTON": "WA", "WEST VIRGINIA": "WV", "WISCONSIN": "WI", "WYOMING": "WY",
    "PUERTO RICO": "PR", "U.S. VIRGIN ISLANDS": "VI", "VIRGIN ISLANDS": "VI", "GUAM": "GU",
    "NORTHERN MARIANA ISLANDS": "MP", "AMERICAN SAMOA": "AS",
}  # fmt: skip

_TYPE_NAMES: Mapping[int, str] = {
    value: name
    for name, value in vars(PhoneNumberType).items()
    if name.isupper() and isinstance(value, int)
}
# Number types a sales lead can be called on; everything else is non-geographic.
CALLABLE_TYPES = frozenset({"FIXED_LINE", "MOBILE", "FIXED_LINE_OR_MOBILE"})


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneFacts:
    """What the number itself tells: built by `phone_facts`, or by a service from stored data."""

    e164: str | None
    valid: bool
    number_type: str  # a `phonenumbers.PhoneNumberType` name, e.g. "FIXED_LINE_OR_MOBILE"
    region: str | None
    time_zones: tuple[str, ...] = ()

    @property
    def area_code(self) -> str | None:
        if self.e164 is None or not self.e164.startswith("+1") or len(self.e164) != 12:
            return None
        return self.e164[2:5]

    @property
    def callable_type(self) -> bool:
        return self.number_type in CALLABLE_TYPES


def phone_facts(raw: str, *, default_region: str = "US") -> PhoneFacts:
    """Parse a number (E.164, or national for `default_region`) into `PhoneFacts`. Pure."""
    try:
        number = phonenumbers.parse(raw, default_region)
    except NumberParseException:
        return PhoneFacts(e164=None, valid=False, number_type="UNKNOWN", region=None)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    valid = phonenumbers.is_valid_number(number)
    zones: tuple[str, ...] = ()
    if valid:
        zones = tuple(
            zone for zone in phone_timezone.time_zones_for_number(number) if zone != UNKNOWN_ZONE
        )
    return PhoneFacts(
        e164=e164,
        valid=valid,
        number_type=_TYPE_NAMES.get(phonenumbers.number_type(number), "UNKNOWN"),
        region=phonenumbers.region_code_for_number(number),
        time_zones=zones,
    )


@dataclass(frozen=True, slots=True)
class AreaCode:
    npa: str
    states: tuple[str, ...]
    zones: tuple[str, ...]
    source: str


@dataclass(frozen=True, slots=True)
class ZipRange:
    first: int
    last: int
    state: str
    zones: tuple[str, ...]  # empty: every zone of the state


@dataclass(frozen=True, slots=True)
class LocationTables:
    area_codes: Mapping[str, AreaCode]
    state_zones: Mapping[str, tuple[str, ...]]
    zip_ranges: tuple[ZipRange, ...]

    def zip_lookup(self, postal_code: str) -> tuple[str, str, tuple[str, ...]] | None:
        """(prefix, state, zones) for a US ZIP (`12345` or `12345-6789`), None when unknown."""
        digits = postal_code.strip()
        if len(digits) not in (5, 10) or not digits[:5].isdigit():
            return None
        if len(digits) == 10 and (digits[5] != "-" or not digits[6:].isdigit()):
            return None
        prefix = int(digits[:3])
        for zip_range in self.zip_ranges:
            if zip_range.first <= prefix <= zip_range.last:
                zones = zip_range.zones or self.state_zones.get(zip_range.state, ())
                return digits[:3], zip_range.state, zones
        return None


@functools.cache
def location_tables() -> LocationTables:
    """The shipped area-code, state-zone and ZIP-prefix tables, loaded once per process."""
    try:
        area_codes = {
            row["npa"]: AreaCode(
                npa=row["npa"],
                states=tuple(row["states"].split()),
                zones=tuple(row["zones"].split()),
                source=row["source"],
            )
            for _, row in read_rows("area_codes.csv")
        }
        state_zones = {
            row["state"]: tuple(row["zones"].split()) for _, row in read_rows("state_zones.csv")
        }
        zip_ranges = tuple(
            ZipRange(int(row["first"]), int(row["last"]), row["state"], tuple(row["zones"].split()))
            for _, row in read_rows("zip_prefixes.csv")
        )
    except (KeyError, ValueError) as exc:
        raise ComplianceDataError(f"location tables: {exc}") from exc
    return LocationTables(area_codes, state_zones, zip_ranges)


def normalize_state(text: str | None) -> str | None:
    """Two-letter code for a state/territory given as a code or a full name, else None."""
    if not text:
        return None
    cleaned = " ".join(text.replace(".", "").split()).upper()
    if len(cleaned) == 2 and cleaned in set(STATE_NAMES.values()):
        return cleaned
    return STATE_NAMES.get(cleaned) or STATE_NAMES.get(text.strip().upper())


@dataclass(frozen=True, slots=True)
class Candidate:
    """A place the callee may be: `state` None means only the federal rule is known to apply."""

    state: str | None
    zone: str
    sources: tuple[str, ...] = field(default=(), compare=False)

    def sort_key(self) -> tuple[str, str]:
        return (self.state or "", self.zone)

    def to_json(self) -> dict[str, Any]:
        return {"state": self.state, "zone": self.zone, "sources": list(self.sources)}


@dataclass(frozen=True, slots=True)
class Location:
    candidates: tuple[Candidate, ...]
    evidence: Mapping[str, Any]


def locate(
    *,
    phone: PhoneFacts,
    state: str | None = None,
    postal_code: str | None = None,
    tables: LocationTables | None = None,
) -> Location:
    """Every plausible (state, zone) for this lead; empty when nothing is known."""
    tables = tables or location_tables()
    found: dict[tuple[str | None, str], set[str]] = {}
    evidence: dict[str, Any] = {}

    def add(candidate_state: str | None, zones: tuple[str, ...], source: str) -> None:
        for zone in zones:
            found.setdefault((candidate_state, zone), set()).add(source)

    usable = phone.valid and phone.region == "US" and phone.callable_type
    npa = phone.area_code if usable else None
    npa_states: tuple[str, ...] = ()
    if npa is not None:
        evidence["area_code"] = npa
        entry = tables.area_codes.get(npa)
        if entry is not None:
            npa_states = entry.states
            evidence["area_code_states"] = list(entry.states)
            evidence["area_code_zones"] = list(entry.zones)
            for npa_state in entry.states:
                add(npa_state, entry.zones, "area_code")
        else:
            evidence["area_code_unknown"] = True
        library_zones = tuple(zone for zone in phone.time_zones if zone != UNKNOWN_ZONE)
        evidence["number_prefix_zones"] = list(library_zones)
        prefix_states: tuple[str | None, ...] = npa_states or (None,)
        for prefix_state in prefix_states:
            add(prefix_state, library_zones, "number_prefix")

    zip_hit = tables.zip_lookup(postal_code) if postal_code else None
    if postal_code:
        if zip_hit is None:
            evidence["postal_code_unknown"] = True
        else:
            prefix, zip_state, zip_zones = zip_hit
            evidence.update(
                {"zip_prefix": prefix, "zip_state": zip_state, "zip_zones": list(zip_zones)}
            )
            add(zip_state, zip_zones, "postal_code")

    stated = normalize_state(state)
    if state and stated is None:
        evidence["stated_state_unrecognized"] = True
    if stated is not None:
        evidence["stated_state"] = stated
        if zip_hit is not None and zip_hit[1] == stated:
            stated_zones = zip_hit[2]
        else:
            stated_zones = tables.state_zones.get(stated, ())
        add(stated, stated_zones, "stated_state")

    other_states = {s for s in (stated, zip_hit[1] if zip_hit else None) if s is not None}
    if npa_states and other_states - set(npa_states):
        evidence["sources_disagree"] = True

    candidates = tuple(
        sorted(
            (Candidate(key[0], key[1], tuple(sorted(sources))) for key, sources in found.items()),
            key=Candidate.sort_key,
        )
    )
    return Location(candidates=candidates, evidence=evidence)
