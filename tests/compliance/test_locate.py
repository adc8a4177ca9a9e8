"""Candidate (state, zone) sets: area codes, split zones, stated state and ZIP (section 3)."""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from phonenumbers.tzdata import TIMEZONE_DATA

from leadwire.compliance.locate import (
    STATE_NAMES,
    Candidate,
    PhoneFacts,
    locate,
    location_tables,
    normalize_state,
    phone_facts,
)
from leadwire.compliance.state_rules import default_rule_book

TABLES = location_tables()


def _pairs(candidates: tuple[Candidate, ...]) -> set[tuple[str | None, str]]:
    return {(candidate.state, candidate.zone) for candidate in candidates}


# --- phone facts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164", "valid", "kind", "region"),
    [
        ("+15125550100", "+15125550100", True, "FIXED_LINE_OR_MOBILE", "US"),
        ("(512) 555-0100", "+15125550100", True, "FIXED_LINE_OR_MOBILE", "US"),
        ("+18005551234", "+18005551234", True, "TOLL_FREE", "US"),
        ("+19005551234", "+19005551234", True, "PREMIUM_RATE", "US"),
        ("+14165550100", "+14165550100", True, "FIXED_LINE_OR_MOBILE", "CA"),
        ("+15555550123", "+15555550123", False, "UNKNOWN", None),
        ("not a number", None, False, "UNKNOWN", None),
    ],
)
def test_phone_facts(
    raw: str, e164: str | None, valid: bool, kind: str, region: str | None
) -> None:
    facts = phone_facts(raw)
    assert (facts.e164, facts.valid, facts.number_type) == (e164, valid, kind)
    if valid:
        assert facts.region == region


def test_phone_facts_time_zones_come_from_the_number_prefix() -> None:
    assert phone_facts("+18504341234").time_zones == ("America/Chicago",)
    assert phone_facts("+18506441234").time_zones == ("America/New_York",)
    assert phone_facts("+15555550123").time_zones == ()


# --- the area-code table against the library ----------------------------------------------------

_STATE_CODES = set(STATE_NAMES.values())


_GEO_LINE = re.compile(r"""^ '1(\d{3})\d*':\{'en': (?:u\()?'([^']*)'""")


def _north_american_geocodes() -> list[tuple[str, str]]:
    """(NPA, English description) of every +1 prefix in phonenumbers' geocoding data.

    Read from the shipped data files as text: importing `phonenumbers.geodata` compiles 19 MB
    of Python and takes several seconds whenever bytecode is not cached.
    """
    folder = Path(phonenumbers.__file__).parent / "geodata"
    found = []
    for path in sorted(folder.glob("data*.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith(" '1") and (match := _GEO_LINE.match(line)):
                found.append((match.group(1), match.group(2)))
    assert len({npa for npa, _ in found}) > 300, "phonenumbers geodata layout changed"
    return found


def _library_view() -> dict[str, tuple[set[str], set[str]]]:
    states: dict[str, set[str]] = defaultdict(set)
    zones: dict[str, set[str]] = defaultdict(set)
    for npa, text in _north_american_geocodes():
        code = STATE_NAMES.get(text.upper().replace(" STATE", ""))
        match = re.search(r", ([A-Z]{2})$", text)
        if code is None and match and match.group(1) in _STATE_CODES:
            code = match.group(1)
        if code:
            states[npa].add(code)
    for prefix, found in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            zones[prefix[1:4]].update(found)
    return {npa: (states[npa], zones[npa]) for npa in set(states) | set(zones)}


def _valid_us_geographic_npas() -> set[str]:
    npas = set()
    for npa in range(200, 1000):
        for exchange in (201, 234, 312, 456, 678, 789, 890, 923, 987, 200, 311, 522, 634, 745):
            number = phonenumbers.parse(f"+1{npa}{exchange}4567")
            if (
                phonenumbers.is_valid_number(number)
                and phonenumbers.region_code_for_number(number) == "US"
                and phonenumbers.number_type(number)
                == phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE
            ):
                npas.add(str(npa))
                break
    return npas


def test_every_valid_us_area_code_is_in_the_table() -> None:
    missing = _valid_us_geographic_npas() - set(TABLES.area_codes)
    assert not missing, f"add to area_codes.csv: {sorted(missing)}"


def test_the_table_knows_every_state_and_zone_the_library_reports() -> None:
    library = _library_view()
    for npa, entry in TABLES.area_codes.items():
        states, zones = library.get(npa, (set(), set()))
        assert states <= set(entry.states), npa
        assert zones <= set(entry.zones), npa


@pytest.mark.parametrize(
    "npa",
    # Section 3.1's split NPAs, plus overlays of split NPAs the library lists with one zone.
    ["850", "208", "541", "270", "423", "812", "906", "605", "701", "308", "620", "785", "928",
     "448", "458", "364", "930", "986"],
)  # fmt: skip
def test_split_area_codes_list_more_than_one_zone(npa: str) -> None:
    assert len(set(TABLES.area_codes[npa].zones)) >= 2


@pytest.mark.parametrize(
    ("number", "must_include"),
    [
        ("+18505551234", ("FL", "America/Chicago")),  # library: Eastern only
        ("+12705551234", ("KY", "America/Chicago")),  # library: Eastern only
        ("+14235551234", ("TN", "America/New_York")),  # library: Central only
        ("+19285551234", ("AZ", "America/Denver")),  # Navajo Nation observes DST
        ("+14485551234", ("FL", "America/Chicago")),  # overlay of 850
    ],
)
def test_split_area_codes_evaluate_every_zone(number: str, must_include: tuple[str, str]) -> None:
    found = locate(phone=phone_facts(number))
    assert must_include in _pairs(found.candidates)
    assert len({candidate.zone for candidate in found.candidates}) >= 2


def test_known_exchange_still_keeps_the_whole_area_code() -> None:
    found = locate(phone=phone_facts("+18504341234"))  # Pensacola, Central
    assert _pairs(found.candidates) == {("FL", "America/Chicago"), ("FL", "America/New_York")}
    chicago = next(c for c in found.candidates if c.zone == "America/Chicago")
    assert chicago.sources == ("area_code", "number_prefix")


def test_every_zone_in_the_tables_exists() -> None:
    zones = {zone for entry in TABLES.area_codes.values() for zone in entry.zones}
    zones |= {zone for found in TABLES.state_zones.values() for zone in found}
    zones |= {zone for zip_range in TABLES.zip_ranges for zone in zip_range.zones}
    for zone in zones:
        ZoneInfo(zone)


def test_every_ruled_state_has_zones() -> None:
    assert default_rule_book().states <= set(TABLES.state_zones)
    assert {zip_range.state for zip_range in TABLES.zip_ranges} <= set(TABLES.state_zones)


def test_zip_ranges_do_not_overlap() -> None:
    ranges = sorted((r.first, r.last) for r in TABLES.zip_ranges)
    for (first, last), (next_first, _) in itertools.pairwise(ranges):
        assert first <= last < next_first


# --- stated state and ZIP ----------------------------------------------------------------------


def test_stated_state_that_disagrees_adds_candidates() -> None:
    found = locate(phone=phone_facts("+15125550100"), state="FL")
    assert _pairs(found.candidates) == {
        ("TX", "America/Chicago"),
        ("FL", "America/New_York"),
        ("FL", "America/Chicago"),
    }
    assert found.evidence["sources_disagree"] is True


def test_zip_narrows_the_stated_state_zones() -> None:
    found = locate(phone=phone_facts("+15125550100"), state="Florida", postal_code="33101")
    assert _pairs(found.candidates) == {("TX", "America/Chicago"), ("FL", "America/New_York")}
    assert found.evidence["zip_prefix"] == "331"


def test_zip_in_another_state_than_the_stated_one() -> None:
    found = locate(phone=phone_facts("+15125550100"), state="TX", postal_code="32501-1234")
    assert _pairs(found.candidates) == {
        ("TX", "America/Chicago"),
        ("TX", "America/Denver"),  # the stated state without its own ZIP: all its zones
        ("FL", "America/New_York"),
        ("FL", "America/Chicago"),
    }


@pytest.mark.parametrize(
    ("postal_code", "state", "zones"),
    [
        ("78701", "TX", {"America/Chicago"}),
        ("79901", "TX", {"America/Denver"}),
        ("10001", "NY", {"America/New_York"}),
        ("02903", "RI", {"America/New_York"}),
        ("96813", "HI", {"Pacific/Honolulu"}),
        ("59601", "MT", {"America/Denver"}),
        ("86033", "AZ", {"America/Phoenix", "America/Denver"}),
    ],
)
def test_zip_prefixes(postal_code: str, state: str, zones: set[str]) -> None:
    hit = TABLES.zip_lookup(postal_code)
    assert hit is not None
    assert hit[1] == state
    assert set(hit[2]) == zones


@pytest.mark.parametrize("postal_code", ["", "1234", "ABCDE", "00001", "12345-67", "123456"])
def test_unknown_zips(postal_code: str) -> None:
    assert TABLES.zip_lookup(postal_code) is None


def test_unusable_inputs_are_reported_not_guessed() -> None:
    found = locate(phone=phone_facts("+15125550100"), state="Atlantis", postal_code="00000")
    assert _pairs(found.candidates) == {("TX", "America/Chicago")}
    assert found.evidence["stated_state_unrecognized"] is True
    assert found.evidence["postal_code_unknown"] is True


def test_non_geographic_number_gives_no_phone_candidates() -> None:
    assert locate(phone=phone_facts("+18005551234")).candidates == ()
    assert locate(phone=phone_facts("+14165550100")).candidates == ()  # Toronto
    only_zip = locate(phone=phone_facts("+18005551234"), postal_code="78701")
    assert _pairs(only_zip.candidates) == {("TX", "America/Chicago")}


def test_unknown_area_code_falls_back_to_library_zones_without_a_state() -> None:
    phone = PhoneFacts(
        e164="+19995550100",
        valid=True,
        number_type="FIXED_LINE_OR_MOBILE",
        region="US",
        time_zones=("America/Denver",),
    )
    found = locate(phone=phone)
    assert _pairs(found.candidates) == {(None, "America/Denver")}
    assert found.evidence["area_code_unknown"] is True


@pytest.mark.parametrize(
    ("text", "code"),
    [("TX", "TX"), ("tx", "TX"), ("Texas", "TX"), (" new  york ", "NY"), ("D.C.", "DC"),
     ("District of Columbia", "DC"), ("XX", None), ("", None), (None, None)],
)  # fmt: skip
def test_normalize_state(text: str | None, code: str | None) -> None:
    assert normalize_state(text) == code
