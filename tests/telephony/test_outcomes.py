import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.platform.errors import ErrorClass
from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.outcomes import (
    CallOutcome,
    FinalCall,
    MachineAction,
    MachineHandling,
    OutcomeAction,
    OutcomeSettings,
    decide_machine,
    decide_outcome,
)

NOW = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
SETTINGS = OutcomeSettings(
    max_attempts_per_lead=3,
    busy_retry_delays_s=(300, 1200),
    no_answer_retry_delays_s=(600, 3600),
    machine_retry_delays_s=(7200,),
    machine_handling=MachineHandling.VOICEMAIL,
)
BEEP = AnsweredBy.MACHINE_END_BEEP
INVALID = CallOutcome.INVALID_NUMBER
CLOSE, RETRY, HOLD, DEAD = (
    OutcomeAction.CLOSE,
    OutcomeAction.RETRY,
    OutcomeAction.HOLD,
    OutcomeAction.DEAD_LETTER,
)


def _decide(call: FinalCall, settings: OutcomeSettings = SETTINGS) -> tuple[object, ...]:
    decision = decide_outcome(call, settings=settings, now=NOW, rng=random.Random(0))
    delay = None if decision.not_before is None else (decision.not_before - NOW).total_seconds()
    return decision.action, decision.outcome, delay


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        # answered
        (FinalCall(CallStatus.COMPLETED, 1, AnsweredBy.HUMAN, duration_s=80),
         (CLOSE, CallOutcome.CONNECTED, None)),
        (FinalCall(CallStatus.COMPLETED, 1, AnsweredBy.UNKNOWN),
         (CLOSE, CallOutcome.CONNECTED, None)),
        (FinalCall(CallStatus.COMPLETED, 1, None), (CLOSE, CallOutcome.CONNECTED, None)),
        (FinalCall(CallStatus.COMPLETED, 1, AnsweredBy.FAX), (CLOSE, CallOutcome.FAX, None)),
        # machines
        (FinalCall(CallStatus.COMPLETED, 1, BEEP, voicemail_left=True),
         (CLOSE, CallOutcome.VOICEMAIL_LEFT, None)),
        (FinalCall(CallStatus.COMPLETED, 1, BEEP), (RETRY, CallOutcome.MACHINE, 7200)),
        (FinalCall(CallStatus.COMPLETED, 2, BEEP), (RETRY, CallOutcome.MACHINE, 7200)),
        (FinalCall(CallStatus.COMPLETED, 3, BEEP), (CLOSE, CallOutcome.MACHINE, None)),
        # busy / no answer / canceled, delay per attempt, last delay repeats, cap
        (FinalCall(CallStatus.BUSY, 1), (RETRY, CallOutcome.BUSY, 300)),
        (FinalCall(CallStatus.BUSY, 2), (RETRY, CallOutcome.BUSY, 1200)),
        (FinalCall(CallStatus.BUSY, 3), (CLOSE, CallOutcome.BUSY, None)),
        (FinalCall(CallStatus.NO_ANSWER, 1), (RETRY, CallOutcome.NO_ANSWER, 600)),
        (FinalCall(CallStatus.NO_ANSWER, 2), (RETRY, CallOutcome.NO_ANSWER, 3600)),
        (FinalCall(CallStatus.NO_ANSWER, 3), (CLOSE, CallOutcome.NO_ANSWER, None)),
        (FinalCall(CallStatus.CANCELED, 1), (RETRY, CallOutcome.CANCELED, 600)),
        # failed, by the class of the error code
        (FinalCall(CallStatus.FAILED, 1, error_code=21211), (CLOSE, INVALID, None)),
        (FinalCall(CallStatus.FAILED, 1, error_code=21217), (CLOSE, INVALID, None)),
        (FinalCall(CallStatus.FAILED, 1, error_code=13223), (CLOSE, INVALID, None)),
        (FinalCall(CallStatus.FAILED, 1, error_code=21610), (CLOSE, CallOutcome.BLOCKED, None)),
        (FinalCall(CallStatus.FAILED, 1, error_code=21210), (HOLD, CallOutcome.HELD, None)),
        (FinalCall(CallStatus.FAILED, 1, error_code=21215), (DEAD, CallOutcome.FAILED, None)),
        (FinalCall(CallStatus.FAILED, 1, error_code=12100), (DEAD, CallOutcome.FAILED, None)),
        (FinalCall(CallStatus.FAILED, 1, error_code=21216), (CLOSE, CallOutcome.FAILED, None)),
        (FinalCall(CallStatus.FAILED, 1, error_code=13224), (RETRY, CallOutcome.FAILED, 3600)),
        (FinalCall(CallStatus.FAILED, 2, error_code=13224), (CLOSE, CallOutcome.FAILED, None)),
        (FinalCall(CallStatus.FAILED, 3, error_code=11200), (CLOSE, CallOutcome.FAILED, None)),
    ],
)  # fmt: skip
def test_outcome_table(call: FinalCall, expected: tuple[object, ...]) -> None:
    assert _decide(call) == expected


def test_a_failed_call_without_code_retries_with_backoff() -> None:
    action, outcome, delay = _decide(FinalCall(CallStatus.FAILED, 1))
    assert (action, outcome) == (RETRY, CallOutcome.FAILED)
    assert isinstance(delay, float)
    assert 10 <= delay <= 12.5  # the external schedule's first step, with jitter


def test_a_system_failure_that_keeps_failing_goes_to_the_dead_letter() -> None:
    settings = OutcomeSettings(max_attempts_per_lead=10)
    assert _decide(FinalCall(CallStatus.FAILED, 4, error_code=11200), settings)[0] is RETRY
    assert _decide(FinalCall(CallStatus.FAILED, 5, error_code=11200), settings)[0] is DEAD


def test_decisions_carry_the_classification_and_escalation() -> None:
    decision = decide_outcome(
        FinalCall(CallStatus.FAILED, 1, error_code=21210),
        settings=SETTINGS,
        now=NOW,
        rng=random.Random(0),
    )
    assert decision.classification is not None
    assert decision.classification.error_class is ErrorClass.BUSINESS
    assert decision.escalate
    assert decision.reason == "twilio.21210"


def test_an_empty_delay_list_means_never_retry_that_outcome() -> None:
    settings = OutcomeSettings(busy_retry_delays_s=())
    decision = decide_outcome(
        FinalCall(CallStatus.BUSY, 1), settings=settings, now=NOW, rng=random.Random(0)
    )
    assert (decision.action, decision.reason) == (CLOSE, "not_retried_by_tenant_policy")


@given(
    status=st.sampled_from(sorted(s for s in CallStatus if s.is_final)),
    attempt=st.integers(min_value=1, max_value=10),
    answered_by=st.one_of(st.none(), st.sampled_from(list(AnsweredBy))),
    error_code=st.one_of(st.none(), st.sampled_from([21211, 21210, 21215, 13224, 11200, 31005])),
    max_attempts=st.integers(min_value=1, max_value=5),
)
def test_retries_respect_the_attempt_cap_and_are_in_the_future(
    status: CallStatus,
    attempt: int,
    answered_by: AnsweredBy | None,
    error_code: int | None,
    max_attempts: int,
) -> None:
    settings = OutcomeSettings(max_attempts_per_lead=max_attempts)
    call = FinalCall(status, attempt, answered_by, error_code)
    decision = decide_outcome(call, settings=settings, now=NOW, rng=random.Random(attempt))
    if decision.action is RETRY:
        assert attempt < max_attempts
        assert decision.not_before is not None
        assert decision.not_before > NOW
    else:
        assert decision.not_before is None


def test_non_final_statuses_and_bad_attempts_are_refused() -> None:
    with pytest.raises(ValueError, match="not final"):
        decide_outcome(
            FinalCall(CallStatus.RINGING, 1), settings=SETTINGS, now=NOW, rng=random.Random(0)
        )
    with pytest.raises(ValueError, match="from 1"):
        decide_outcome(
            FinalCall(CallStatus.BUSY, 0), settings=SETTINGS, now=NOW, rng=random.Random(0)
        )


@pytest.mark.parametrize(
    ("answered_by", "handling", "expected"),
    [
        (AnsweredBy.HUMAN, MachineHandling.VOICEMAIL, MachineAction.CONTINUE),
        (AnsweredBy.UNKNOWN, MachineHandling.RETRY, MachineAction.CONTINUE),
        (AnsweredBy.FAX, MachineHandling.VOICEMAIL, MachineAction.HANGUP),
        (AnsweredBy.MACHINE_END_BEEP, MachineHandling.VOICEMAIL, MachineAction.VOICEMAIL),
        (AnsweredBy.MACHINE_END_SILENCE, MachineHandling.VOICEMAIL, MachineAction.VOICEMAIL),
        (AnsweredBy.MACHINE_END_OTHER, MachineHandling.VOICEMAIL, MachineAction.VOICEMAIL),
        (AnsweredBy.MACHINE_START, MachineHandling.VOICEMAIL, MachineAction.VOICEMAIL),
        (AnsweredBy.MACHINE_END_BEEP, MachineHandling.RETRY, MachineAction.HANGUP),
    ],
)
def test_machine_table(
    answered_by: AnsweredBy, handling: MachineHandling, expected: MachineAction
) -> None:
    settings = OutcomeSettings(machine_handling=handling)
    assert decide_machine(answered_by, settings=settings) is expected


def test_settings_from_the_tenant_block() -> None:
    settings = OutcomeSettings.from_tenant_settings(
        {
            "limits": {"max_attempts_per_lead": 5, "calls_per_minute": 10},
            "call_retry": {
                "busy_delays_s": [60, 120],
                "machine_handling": "retry",
            },
        }
    )
    assert settings == OutcomeSettings(
        max_attempts_per_lead=5,
        busy_retry_delays_s=(60, 120),
        machine_handling=MachineHandling.RETRY,
    )
    assert OutcomeSettings.from_tenant_settings({}) == OutcomeSettings()
    with pytest.raises(ValueError, match="'never'"):
        OutcomeSettings.from_tenant_settings({"call_retry": {"machine_handling": "never"}})


def test_delays_pick_the_attempts_entry() -> None:
    settings = OutcomeSettings(max_attempts_per_lead=9, no_answer_retry_delays_s=(10, 20))
    delays = [
        decide_outcome(
            FinalCall(CallStatus.NO_ANSWER, n), settings=settings, now=NOW, rng=random.Random(0)
        ).not_before
        for n in (1, 2, 3, 8)
    ]
    assert delays == [NOW + timedelta(seconds=s) for s in (10, 20, 20, 20)]
