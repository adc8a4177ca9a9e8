import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadwire.leads.canonical import InboundLead, Urgency
from leadwire.leads.normalize import normalize
from leadwire.leads.urgency import UrgencySignal, detect_urgency, lead_texts, urgency_of

E, H, M, L = Urgency.EMERGENCY, Urgency.HIGH, Urgency.MEDIUM, Urgency.LOW


@pytest.mark.parametrize(
    ("text", "level", "phrases"),
    [
        ("EMERGENCY! water heater", E, ["emergency"]),
        ("HVAC Emergency", E, ["emergency"]),
        ("We have no heat and kids at home", E, ["no heat"]),
        ("no AC, it's 104 out", E, ["no ac"]),
        ("No A/C since noon", E, ["no a/c"]),
        ("no air conditioning", E, ["no air conditioning"]),
        ("roof is leaking", E, ["leaking"]),
        ("small leak under sink, quote please", E, ["leak", "quote"]),
        ("basement flooded", E, ["flooded"]),
        ("burst pipe in the kitchen", E, ["burst"]),
        ("I think there's a gas smell", E, ["gas smell"]),
        ("it smells like gas in here", E, ["smells like gas"]),
        ("need someone today", H, ["today"]),
        ("ASAP please", H, ["asap"]),
        ("urgent", H, ["urgent"]),
        ("come right away", H, ["right away"]),
        ("as soon as possible", H, ["as soon as possible"]),
        ("furnace stopped working", H, ["stopped working"]),
        ("tomorrow morning works", M, ["tomorrow"]),
        ("sometime this week", M, ["this week"]),
        ("want to schedule a tune-up", M, ["schedule"]),
        ("just browsing", L, ["just browsing"]),
        ("Can I get a quote?", L, ["quote"]),
        ("how much for a new unit", L, ["how much"]),
        ("no rush, whenever", L, ["no rush", "whenever"]),
        ("not urgent", L, ["not urgent"]),
        ("this is not an emergency", L, ["not an emergency"]),
        ("non-emergency maintenance", L, ["non-emergency"]),
        ("quote for tomorrow", M, ["tomorrow", "quote"]),
        ("quote today please", H, ["today", "quote"]),
        ("no rush but the pipe burst", E, ["no rush", "burst"]),
    ],
)
def test_detection_table(text, level, phrases):
    result = detect_urgency({"message": text})
    assert result.level == level
    assert result.source == "detected"
    assert sorted(s.phrase for s in result.signals) == sorted(phrases)


@pytest.mark.parametrize(
    "text",
    [
        "no access to the attic",  # "no ac" only on a word boundary
        "bleak outlook",  # "leak" inside a word
        "todays special",  # "today" inside a word
        "quotation marks",
        "superurgentish",
        "I would like a new thermostat installed",
        "",
    ],
)
def test_no_signal_is_the_default(text):
    result = detect_urgency({"message": text})
    assert (result.level, result.source, result.signals) == (M, "default", ())


def test_explicit_urgency_wins_and_evidence_is_kept():
    result = detect_urgency({"message": "no heat!"}, explicit=L)
    assert (result.level, result.source) == (L, "explicit")
    assert result.signals == (UrgencySignal(phrase="no heat", level=E, field="message"),)


def test_fields_are_named_in_the_evidence():
    lead = InboundLead(
        source="form",
        service="Water heater",
        message="leaking everywhere",
        custom_fields={"when": ["ASAP", 3], "notes": {"deep": "today"}, "n": 5},
    )
    result = urgency_of(lead)
    assert result.level == E
    assert {(s.field, s.phrase) for s in result.signals} == {
        ("message", "leaking"),
        ("custom_fields.when", "asap"),
    }
    assert urgency_of(normalize(lead, default_region="US")) == result


def test_repeated_phrases_are_reported_once_per_field():
    result = detect_urgency([("message", "leak leak LEAK"), ("service", "leak")])
    assert [(s.field, s.phrase) for s in result.signals] == [
        ("message", "leak"),
        ("service", "leak"),
    ]


def test_lead_texts_skip_empty():
    assert lead_texts(service=None, message="", custom_fields={}) == []


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), explicit=st.none() | st.sampled_from(list(Urgency)))
def test_detection_is_total_and_deterministic(text, explicit):
    first = detect_urgency({"message": text}, explicit=explicit)
    assert first == detect_urgency({"message": text}, explicit=explicit)
    if explicit is not None:
        assert first.level == explicit
    elif first.signals:
        assert first.level == max((s.level for s in first.signals), key=lambda u: u.rank)
