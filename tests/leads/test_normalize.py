import hashlib
import json
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadwire.leads.canonical import InboundLead
from leadwire.leads.normalize import (
    NumberType,
    apply_field_map,
    fingerprint,
    normalize,
    normalize_email,
    normalize_postal_code,
    normalize_state,
    parse_phone,
    resolve_names,
)

FLM = NumberType.FIXED_LINE_OR_MOBILE
FIXED = NumberType.FIXED_LINE
MOBILE = NumberType.MOBILE


# --- phones ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "region", "e164", "number_type", "phone_region", "area_code", "zones"),
    [
        ("+15125550100", "US", "+15125550100", FLM, "US", "512", ("America/Chicago",)),
        ("(512) 867-5309", "US", "+15128675309", FLM, "US", "512", ("America/Chicago",)),
        ("512.867.5309", "US", "+15128675309", FLM, "US", "512", ("America/Chicago",)),
        ("1-212-736-5000", "US", "+12127365000", FLM, "US", "212", ("America/New_York",)),
        ("850-434-1234", "US", "+18504341234", FLM, "US", "850", ("America/Chicago",)),
        ("+1 416 555 0199", "US", "+14165550199", FLM, "CA", "416", ("America/Toronto",)),
        ("+44 20 7946 0958", "US", "+442079460958", FIXED, "GB", "20", ("Europe/London",)),
        ("020 7946 0958", "GB", "+442079460958", FIXED, "GB", "20", ("Europe/London",)),
        ("+33 1 42 68 53 00", "US", "+33142685300", FIXED, "FR", "1", ("Europe/Paris",)),
        ("06 12 34 56 78", "FR", "+33612345678", MOBILE, "FR", None, ("Europe/Paris",)),
    ],
)
def test_usable_numbers(raw, region, e164, number_type, phone_region, area_code, zones):
    info = parse_phone(raw, default_region=region)
    assert (info.valid, info.usable, info.reason) == (True, True, None)
    assert info.e164 == e164
    assert info.number_type == number_type
    assert info.region == phone_region
    assert info.area_code == area_code
    assert info.time_zones == zones


def test_extension_is_kept_apart():
    info = parse_phone("512-867-5309 ext. 12", default_region="US")
    assert (info.e164, info.extension) == ("+15128675309", "12")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("   ", "missing"),
        ("call me", "not_a_number"),
        ("12", "too_short"),
        ("+999 123 456", "invalid_country_code"),
        ("+1 555 123 4567", "invalid_number"),  # the contract's example: 555 is no area code
        ("+1 512 555 01", "too_short"),
        ("512 867 53091234", "too_long"),
        ("1" * 65, "too_long"),
        ("8675309", "local_only"),
    ],
)
def test_unusable_numbers_say_why(raw, reason):
    info = parse_phone(raw, default_region="US")
    assert (info.valid, info.usable, info.e164) == (False, False, None)
    assert info.reason == reason


@pytest.mark.parametrize(
    ("raw", "number_type"),
    [
        ("1-800-275-2273", NumberType.TOLL_FREE),
        ("+1 888 555 0100", NumberType.TOLL_FREE),
        ("+1 900 555 0100", NumberType.PREMIUM_RATE),
    ],
)
def test_valid_but_not_a_personal_line(raw, number_type):
    info = parse_phone(raw, default_region="US")
    assert info.valid is True
    assert info.usable is False
    assert info.number_type == number_type
    assert info.reason == number_type.value
    assert info.e164 is not None


@settings(max_examples=300, deadline=None)
@given(raw=st.text(max_size=80), region=st.sampled_from(["US", "GB", "ZZ", "us", "XX"]))
def test_parse_phone_never_raises(raw, region):
    info = parse_phone(raw, default_region=region)
    assert info.usable == (info.valid and info.reason is None)
    if info.e164 is not None:
        assert info.e164.startswith("+")


# --- names, email, state, zip ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "first", "last", "expected"),
    [
        ("Sarah Johnson", None, None, ("Sarah Johnson", "Sarah", "Johnson")),
        ("  Mary   Ann\tSmith ", None, None, ("Mary Ann Smith", "Mary", "Ann Smith")),
        ("Johnson, Sarah", None, None, ("Sarah Johnson", "Sarah", "Johnson")),
        ("Cher", None, None, ("Cher", "Cher", None)),
        (None, " Ada ", "Lovelace", ("Ada Lovelace", "Ada", "Lovelace")),
        (None, None, "van der Berg", ("van der Berg", None, "van der Berg")),
        ("Dr. Grace Hopper", "Grace", "Hopper", ("Dr. Grace Hopper", "Grace", "Hopper")),
        ("   ", "", None, (None, None, None)),
        (",", None, None, (None, None, None)),
    ],
)
def test_names(name, first, last, expected):
    assert resolve_names(name, first, last) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (" Sarah@Example.COM ", "sarah@example.com"),
        ("mailto:a.b+tag@sub.example.co.uk", "a.b+tag@sub.example.co.uk"),
        ("o'neil@example.ie", "o'neil@example.ie"),
        ("user@xn--bcher-kva.example", "user@xn--bcher-kva.example"),
        ("not-an-email", None),
        ("a@b", None),
        ("a@@b.com", None),
        ("a..b@example.com", None),
        (".a@example.com", None),
        ("a@-example.com", None),
        ("a b@example.com", None),
        ("a@example.c", None),
        ("x" * 65 + "@example.com", None),
        ("", None),
        (None, None),
    ],
)
def test_emails(raw, expected):
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("TX", "US", "TX"),
        ("tx", "US", "TX"),
        ("T.X.", "US", "TX"),
        ("Texas", "US", "TX"),
        ("  new   york ", "US", "NY"),
        ("District of Columbia", "US", "DC"),
        ("Washington, D.C.", "US", "DC"),
        ("N.Y.", "US", "NY"),
        ("washington dc", "US", "DC"),
        ("Puerto Rico", "US", "PR"),
        ("Ontario", "US", None),
        ("ZZ", "US", None),
        ("Ontario", "CA", "Ontario"),
        (None, "US", None),
    ],
)
def test_states(raw, region, expected):
    assert normalize_state(raw, default_region=region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("78701", "US", "78701"),
        (" 78701-1234 ", "US", "78701"),
        ("78701 1234", "US", "78701"),
        ("787011234", "US", "78701"),
        ("2134", "US", "02134"),
        ("501", "US", "00501"),
        ("7870", "PR", "07870"),
        ("ABCDE", "US", None),
        ("12", "US", None),
        ("sw1a 1aa", "GB", "SW1A 1AA"),
        (None, "US", None),
    ],
)
def test_postal_codes(raw, region, expected):
    assert normalize_postal_code(raw, default_region=region) == expected


# --- field map ---------------------------------------------------------------------------------
def test_field_map_moves_custom_fields_and_wins():
    lead = InboundLead(
        source="meta",
        phone="+15125550100",
        service="from adapter",
        custom_fields={
            "What service do you need?": ["Furnace", "Duct cleaning"],
            "home_phone": "+15128675309",
            "when": "asap",
            "priority": "HIGH",
            "untouched": "x",
        },
    )
    field_map = {
        "what_service_do_you_need": "service",
        "Home Phone": "phone",
        "when": "urgency",  # not a level: stays custom
        "priority": "urgency",
        "untouched": "not_a_field",
    }
    mapped = apply_field_map(lead, field_map)
    assert mapped.service == "Furnace, Duct cleaning"
    assert mapped.phone == "+15128675309"
    assert mapped.urgency == "high"
    assert mapped.custom_fields == {"when": "asap", "untouched": "x"}
    assert apply_field_map(lead, None) is lead
    assert apply_field_map(lead, {}) is lead


# --- normalize ---------------------------------------------------------------------------------
def test_normalize_a_full_lead():
    lead = InboundLead(
        source="zapier",
        name="  Sarah   Johnson ",
        phone="(512) 867-5309",
        email=" Sarah@Example.com ",
        state="texas",
        postal_code="78701-1234",
        service=" HVAC ",
        message="  no heat ",
        custom_fields={"what_service_do_you_need": "furnace"},
    )
    result = normalize(lead, default_region="US", field_map={"what_service_do_you_need": "service"})
    assert (result.name, result.first_name, result.last_name) == (
        "Sarah Johnson",
        "Sarah",
        "Johnson",
    )
    assert result.phone.e164 == "+15128675309"
    assert result.phone_raw == "(512) 867-5309"
    assert (result.email, result.state, result.postal_code) == ("sarah@example.com", "TX", "78701")
    assert (result.service, result.message) == ("furnace", "no heat")
    assert result.rejection is None
    assert result.unnormalized == {}
    json.loads(result.model_dump_json())


def test_unusable_phone_is_rejected_and_bad_values_kept_aside():
    lead = InboundLead(
        source="form", phone="555-0100", email="nope", state="Narnia", postal_code="x"
    )
    result = normalize(lead, default_region="US")
    assert result.rejection == "invalid_phone"
    assert result.phone.reason == "local_only"
    assert result.email is None
    assert result.unnormalized == {"email": "nope", "state": "Narnia", "postal_code": "x"}


def test_missing_phone_is_rejected_unless_still_to_fetch():
    assert normalize(InboundLead(source="zapier"), default_region="US").rejection == "invalid_phone"
    pending = InboundLead(source="meta", needs_fetch=True, fetch_ref={"leadgen_id": "1"})
    result = normalize(pending, default_region="US")
    assert result.rejection is None
    assert result.phone.reason == "missing"


def test_toll_free_is_rejected():
    result = normalize(InboundLead(source="api", phone="1-800-275-2273"), default_region="US")
    assert result.rejection == "invalid_phone"
    assert result.phone.reason == "toll_free"


# --- fingerprint -------------------------------------------------------------------------------
def test_fingerprint_is_deterministic_sha256():
    tenant = uuid.UUID("12345678-1234-5678-1234-567812345678")
    value = fingerprint(tenant, "+15128675309", "Sarah@Example.com ", "c1")
    assert value == fingerprint(str(tenant), "+15128675309", "sarah@example.com", "c1")
    expected_input = json.dumps(
        [str(tenant), "+15128675309", "sarah@example.com", "c1"], separators=(",", ":")
    )
    assert value == hashlib.sha256(expected_input.encode()).hexdigest()
    assert len(value) == 64


@pytest.mark.parametrize(
    "other",
    [
        ("t2", "+15128675309", "a@b.co", "c"),
        ("t1", "+15128675300", "a@b.co", "c"),
        ("t1", "+15128675309", "x@b.co", "c"),
        ("t1", "+15128675309", "a@b.co", "d"),
        ("t1", "+15128675309", None, "c"),
        ("t1", "+15128675309", "a@b.coc", ""),
    ],
)
def test_fingerprint_distinguishes(other):
    assert fingerprint("t1", "+15128675309", "a@b.co", "c") != fingerprint(*other)
