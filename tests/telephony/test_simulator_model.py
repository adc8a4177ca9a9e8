import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.telephony.simulator_model import (
    DEFAULT_MIX,
    CallbackKind,
    NumberOverride,
    SimulatedCall,
    SimulatedOutcome,
    simulate_call,
)

T0 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
ACCOUNT = "AC" + "1" * 32
TO = "+15125550100"
FROM = "+15125550101"

STATUS_KEYS = {
    "AccountSid",
    "ApiVersion",
    "CallSid",
    "CallStatus",
    "Called",
    "Caller",
    "CallbackSource",
    "Direction",
    "From",
    "SequenceNumber",
    "Timestamp",
    "To",
}
TERMINAL_KEYS = STATUS_KEYS | {"CallDuration", "Duration"}


def _call(seed: int | str = 1, **kwargs: object) -> SimulatedCall:
    arguments: dict[str, object] = {
        "seed": seed,
        "account_sid": ACCOUNT,
        "to": TO,
        "from_": FROM,
        "started_at": T0,
    }
    arguments.update(kwargs)
    return simulate_call(**arguments)  # type: ignore[arg-type]


@given(seed=st.integers(), outcome=st.sampled_from([None, *SimulatedOutcome]))
def test_the_same_seed_gives_the_same_call(seed: int, outcome: SimulatedOutcome | None) -> None:
    override = NumberOverride(outcome) if outcome else None
    assert _call(seed, override=override) == _call(seed, override=override)


def test_different_seeds_give_different_calls() -> None:
    sids = {_call(seed).call_sid for seed in range(50)}
    assert len(sids) == 50
    assert len({_call(seed).outcome for seed in range(50)}) > 1


def test_the_call_sid_is_twilio_shaped() -> None:
    for seed in range(20):
        assert re.fullmatch(r"CA[0-9a-f]{32}", _call(seed).call_sid)


def _statuses(call: SimulatedCall) -> list[str]:
    return [c.params["CallStatus"] for c in call.callbacks if c.kind is CallbackKind.STATUS]


@pytest.mark.parametrize(
    ("outcome", "statuses", "sip"),
    [
        (SimulatedOutcome.ANSWERED, ["initiated", "ringing", "in-progress", "completed"], "200"),
        (SimulatedOutcome.MACHINE, ["initiated", "ringing", "in-progress", "completed"], "200"),
        (SimulatedOutcome.BUSY, ["initiated", "ringing", "busy"], "486"),
        (SimulatedOutcome.NO_ANSWER, ["initiated", "ringing", "no-answer"], "487"),
        (SimulatedOutcome.FAILED, ["initiated", "failed"], None),
    ],
)
def test_callbacks_per_outcome(
    outcome: SimulatedOutcome, statuses: list[str], sip: str | None
) -> None:
    call = _call(override=NumberOverride(outcome))
    assert call.rejection is None
    assert _statuses(call) == statuses
    status_callbacks = [c for c in call.callbacks if c.kind is CallbackKind.STATUS]
    assert [c.params["SequenceNumber"] for c in status_callbacks] == [
        str(n) for n in range(len(statuses))
    ]
    *progress, terminal = status_callbacks
    for callback in progress:
        assert set(callback.params) == STATUS_KEYS
    extra = set(terminal.params) - TERMINAL_KEYS
    assert extra == ({"SipResponseCode"} if sip else {"ErrorCode", "ErrorMessage"})
    assert terminal.params.get("SipResponseCode") == sip
    for callback in status_callbacks:
        assert callback.params["CallSid"] == call.call_sid
        assert callback.params["AccountSid"] == ACCOUNT
        assert callback.params["Direction"] == "outbound-api"
        assert callback.params["ApiVersion"] == "2010-04-01"
        assert callback.params["CallbackSource"] == "call-progress-events"
        assert (callback.params["From"], callback.params["To"]) == (FROM, TO)
        sent = parsedate_to_datetime(callback.params["Timestamp"])
        assert abs(sent - (T0 + timedelta(seconds=callback.at_s))) < timedelta(seconds=1)
    times = [c.at_s for c in call.callbacks]
    assert times == sorted(times)


def test_an_answered_call_asks_for_twiml_and_reports_amd() -> None:
    call = _call(override=NumberOverride(SimulatedOutcome.ANSWERED, duration_s=95))
    voice = [c for c in call.callbacks if c.kind is CallbackKind.VOICE]
    amd = [c for c in call.callbacks if c.kind is CallbackKind.AMD]
    assert len(voice) == len(amd) == 1
    assert voice[0].params["CallStatus"] == "in-progress"
    assert "SequenceNumber" not in voice[0].params
    assert set(amd[0].params) == {"AccountSid", "CallSid", "AnsweredBy", "MachineDetectionDuration"}
    assert amd[0].params["AnsweredBy"] == "human"
    terminal = call.callbacks[-1].params
    assert (terminal["CallDuration"], terminal["Duration"]) == ("95", "2")
    assert call.final["duration"] == "95"
    assert call.final["price"] == "-0.02800"
    assert call.final["price_unit"] == "USD"
    assert call.final["answered_by"] == "human"
    assert call.created["status"] == "queued"
    assert call.created["sid"] == call.call_sid


def test_a_machine_is_detected_after_its_greeting() -> None:
    call = _call(override=NumberOverride(SimulatedOutcome.MACHINE))
    amd = next(c for c in call.callbacks if c.kind is CallbackKind.AMD)
    assert amd.params["AnsweredBy"].startswith("machine_end_")
    assert int(amd.params["MachineDetectionDuration"]) >= 8000  # greeting and beep
    assert amd.at_s < call.callbacks[-1].at_s  # before the call ends


def test_unanswered_calls_cost_nothing_and_have_no_duration() -> None:
    for outcome in (SimulatedOutcome.BUSY, SimulatedOutcome.NO_ANSWER, SimulatedOutcome.FAILED):
        call = _call(override=NumberOverride(outcome))
        assert call.final["duration"] is None
        assert call.final["price"] is None
        assert call.callbacks[-1].params["CallDuration"] == "0"


def test_a_failed_call_carries_the_override_error_code() -> None:
    call = _call(override=NumberOverride(SimulatedOutcome.FAILED, error_code=32205))
    assert call.callbacks[-1].params["ErrorCode"] == "32205"
    default = _call(override=NumberOverride(SimulatedOutcome.FAILED))
    assert default.callbacks[-1].params["ErrorCode"] == "13224"


@pytest.mark.parametrize(("code", "status"), [(21211, 400), (20429, 429), (20003, 401)])
def test_create_time_errors_are_rejections_without_callbacks(code: int, status: int) -> None:
    call = _call(override=NumberOverride(SimulatedOutcome.FAILED, error_code=code))
    assert call.callbacks == ()
    assert call.rejection is not None
    assert call.rejection.http_status == status
    assert dict(call.rejection.body) == {
        "code": code,
        "message": call.rejection.body["message"],
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def test_no_answer_rings_for_the_ring_timeout() -> None:
    call = _call(override=NumberOverride(SimulatedOutcome.NO_ANSWER), ring_timeout_s=25)
    ringing, final = (c for c in call.callbacks if c.params["CallStatus"] != "initiated")
    assert final.at_s - ringing.at_s == pytest.approx(25)


def test_time_compression_divides_every_delay() -> None:
    override = NumberOverride(SimulatedOutcome.ANSWERED, duration_s=120)
    real = _call(override=override)
    fast = _call(override=override, time_compression=60)
    assert [c.at_s / 60 for c in real.callbacks] == pytest.approx([c.at_s for c in fast.callbacks])
    assert fast.callbacks[-1].params["CallDuration"] == "120"  # the logical length is kept
    with pytest.raises(ValueError, match="positive"):
        _call(time_compression=0)


def test_duplicates_repeat_status_callbacks_verbatim() -> None:
    call = _call(override=NumberOverride(SimulatedOutcome.BUSY), duplicate_probability=1.0)
    statuses = [c for c in call.callbacks if c.kind is CallbackKind.STATUS]
    counts = Counter(c.params["SequenceNumber"] for c in statuses)
    assert counts == {"0": 2, "1": 2, "2": 2}


def test_the_default_mix() -> None:
    counts = Counter(_call(f"mix-{n}").outcome for n in range(4000))
    for outcome, share in DEFAULT_MIX:
        assert counts[outcome] / 4000 == pytest.approx(share, abs=0.03)
