from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.callbacks import parse_amd_callback, parse_status_callback
from leadwire.telephony.simulator_model import (
    CallbackKind,
    NumberOverride,
    SimulatedOutcome,
    simulate_call,
)
from leadwire.telephony.state_machine import (
    CallbackEvent,
    CallState,
    Effect,
    apply,
    fold,
)

T0 = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)

Q = CallStatus.QUEUED
I = CallStatus.INITIATED  # noqa: E741
R = CallStatus.RINGING
P = CallStatus.IN_PROGRESS
C = CallStatus.COMPLETED
BUSY = CallStatus.BUSY
NA = CallStatus.NO_ANSWER
F = CallStatus.FAILED
X = CallStatus.CANCELED


# current status, incoming status -> resulting status, effect
@pytest.mark.parametrize(
    ("current", "incoming", "expected", "effect"),
    [
        (Q, I, I, Effect.ADVANCED),
        (Q, R, R, Effect.ADVANCED),  # a lost `initiated` does not block the machine
        (I, R, R, Effect.ADVANCED),
        (R, P, P, Effect.ADVANCED),
        (P, C, C, Effect.ADVANCED),
        (R, BUSY, BUSY, Effect.ADVANCED),
        (R, NA, NA, Effect.ADVANCED),
        (I, F, F, Effect.ADVANCED),
        (R, X, X, Effect.ADVANCED),
        (Q, C, C, Effect.ADVANCED),  # only the final callback arrived
        (P, R, P, Effect.STALE),  # a ringing after in-progress
        (P, I, P, Effect.STALE),
        (R, R, R, Effect.STALE),
        (C, R, C, Effect.STALE),  # anything after a final state
        (C, P, C, Effect.STALE),
        (BUSY, I, BUSY, Effect.STALE),
    ],
)
def test_transition_table(
    current: CallStatus, incoming: CallStatus, expected: CallStatus, effect: Effect
) -> None:
    state = CallState(status=current, final_key=(0, 0) if current.is_final else None)
    transition = apply(state, CallbackEvent(status=incoming))
    assert transition.state.status is expected
    assert transition.effect is effect
    assert transition.previous is current


def test_a_repeated_sequence_number_is_a_duplicate_even_with_other_data() -> None:
    state = apply(CallState(), CallbackEvent(status=R, sequence_number=1)).state
    replay = apply(state, CallbackEvent(status=C, sequence_number=1, duration_s=9))
    assert replay.effect is Effect.DUPLICATE
    assert replay.state is state
    assert not replay.changed


def test_answered_events_and_amd_results_mean_in_progress() -> None:
    answered = parse_status_callback(
        {"CallSid": "CA" + "a" * 32, "CallStatus": "answered", "SequenceNumber": "2"}
    ).event
    assert apply(CallState(status=R), answered).state.status is P
    amd = CallbackEvent(status=None, answered_by=AnsweredBy.HUMAN)
    after_amd = apply(CallState(status=R), amd)
    assert after_amd.state.status is P
    assert after_amd.state.answered_by is AnsweredBy.HUMAN


def test_an_amd_result_after_the_end_only_adds_answered_by() -> None:
    ended = CallState(status=C, final_key=(3, 4))
    late = apply(ended, CallbackEvent(status=None, answered_by=AnsweredBy.MACHINE_END_BEEP))
    assert late.effect is Effect.MERGED
    assert late.state.status is C
    assert late.state.answered_by is AnsweredBy.MACHINE_END_BEEP


def test_a_late_final_callback_still_brings_duration_and_price() -> None:
    # Marked completed from another source (reconciliation), without a SequenceNumber.
    reconciled = apply(CallState(status=P), CallbackEvent(status=C)).state
    assert reconciled.duration_s is None
    late = apply(
        reconciled,
        CallbackEvent(
            status=C,
            sequence_number=3,
            timestamp=T0,
            duration_s=95,
            billed_minutes=2,
            price=Decimal("-0.02800"),
            price_unit="USD",
            sip_response_code=200,
        ),
    )
    assert late.effect is Effect.MERGED
    assert not late.became_final
    state = late.state
    assert (state.duration_s, state.billed_minutes, state.price, state.price_unit) == (
        95,
        2,
        Decimal("-0.02800"),
        "USD",
    )
    assert state.ended_at == T0
    assert state.sip_response_code == 200


def test_a_late_ringing_records_when_ringing_began_without_moving_back() -> None:
    state = CallState(status=P)
    late = apply(state, CallbackEvent(status=R, sequence_number=1, timestamp=T0))
    assert (late.state.status, late.state.ringing_at, late.effect) == (P, T0, Effect.MERGED)
    again = apply(late.state, CallbackEvent(status=R, timestamp=T0 + timedelta(seconds=5)))
    assert again.effect is Effect.STALE
    assert again.state.ringing_at == T0


def test_values_already_known_are_kept() -> None:
    state = CallState(status=C, final_key=(3, 4), duration_s=30)
    other = apply(state, CallbackEvent(status=C, duration_s=31))
    assert other.state.duration_s == 30
    assert other.effect is Effect.STALE


def test_a_callback_final_corrects_a_final_from_a_source_without_sequence() -> None:
    guessed = apply(CallState(status=R), CallbackEvent(status=X)).state
    corrected = apply(guessed, CallbackEvent(status=NA, sequence_number=2))
    assert corrected.effect is Effect.CORRECTED
    assert corrected.state.status is NA
    assert not corrected.became_final
    # ...but a source without a SequenceNumber never overrides Twilio's own final callback.
    kept = apply(corrected.state, CallbackEvent(status=C))
    assert kept.state.status is NA


def test_became_final_fires_once() -> None:
    state = CallState()
    flags = []
    for event in [
        CallbackEvent(status=I, sequence_number=0),
        CallbackEvent(status=C, sequence_number=3),
        CallbackEvent(status=C, sequence_number=3),
        CallbackEvent(status=C),
    ]:
        transition = apply(state, event)
        flags.append(transition.became_final)
        state = transition.state
    assert flags == [False, True, False, False]


def _simulated_events(seed: int, outcome: SimulatedOutcome) -> list[CallbackEvent]:
    call = simulate_call(
        seed=seed,
        account_sid="AC" + "0" * 32,
        to="+15125550100",
        from_="+15125550101",
        started_at=T0,
        override=NumberOverride(outcome),
    )
    parse = {CallbackKind.AMD: parse_amd_callback}
    return [
        parse.get(callback.kind, parse_status_callback)(callback.params).event
        for callback in call.callbacks
    ]


_EXPECTED_FINAL = {
    SimulatedOutcome.ANSWERED: C,
    SimulatedOutcome.MACHINE: C,
    SimulatedOutcome.BUSY: BUSY,
    SimulatedOutcome.NO_ANSWER: NA,
    SimulatedOutcome.FAILED: F,
}


@settings(max_examples=300)
@given(
    seed=st.integers(min_value=0, max_value=10_000),
    outcome=st.sampled_from(list(SimulatedOutcome)),
    data=st.data(),
)
def test_any_permutation_or_duplication_reaches_the_in_order_state(
    seed: int, outcome: SimulatedOutcome, data: st.DataObject
) -> None:
    events = _simulated_events(seed, outcome)
    in_order = fold(events)
    assert in_order.status is _EXPECTED_FINAL[outcome]
    # A reconciliation result without SequenceNumber or duration may land anywhere too.
    extra = [CallbackEvent(status=_EXPECTED_FINAL[outcome])]
    duplicated = data.draw(
        st.lists(st.sampled_from(events + extra), max_size=6), label="duplicates"
    )
    shuffled = data.draw(st.permutations(events + extra + duplicated), label="arrival order")
    assert fold(shuffled) == in_order

    finals = 0
    state = CallState()
    for event in shuffled:
        transition = apply(state, event)
        finals += transition.became_final
        state = transition.state
    assert finals == 1


_statuses = st.sampled_from(list(CallStatus))
_events = st.builds(
    CallbackEvent,
    status=st.one_of(st.none(), _statuses),
    sequence_number=st.one_of(st.none(), st.integers(min_value=0, max_value=8)),
    answered_by=st.one_of(st.none(), st.sampled_from(list(AnsweredBy))),
)


@given(events=st.lists(_events, max_size=10), data=st.data())
def test_the_status_never_depends_on_arrival_order(
    events: list[CallbackEvent], data: st.DataObject
) -> None:
    # Arbitrary, even contradictory, events: the status is a maximum, so order cannot matter
    # as long as a SequenceNumber is never reused for different content (Twilio's contract).
    by_sequence: dict[int, CallbackEvent] = {}
    consistent = []
    for event in events:
        if event.sequence_number is None:
            consistent.append(event)
        else:
            consistent.append(by_sequence.setdefault(event.sequence_number, event))
    shuffled = data.draw(st.permutations(consistent))
    assert fold(shuffled).status is fold(consistent).status


@given(events=st.lists(_events, max_size=10))
def test_the_status_only_moves_forward(events: list[CallbackEvent]) -> None:
    rank = {Q: 0, I: 1, R: 2, P: 3}
    state = CallState()
    for event in events:
        new = apply(state, event).state
        if state.status.is_final:
            assert new.status.is_final
        else:
            assert new.status.is_final or rank[new.status] >= rank[state.status]
        state = new
