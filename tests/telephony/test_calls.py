"""Pure pieces of a call's life: the state snapshot, the cost, the retry settings."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.telephony import snapshot
from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.calls import call_cost, outcome_settings
from leadwire.telephony.outcomes import MachineHandling
from leadwire.telephony.state_machine import CallState
from leadwire.tenants.settings_schema import TenantSettings

RATE = Decimal("0.014")
instants = st.none() | st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2040, 1, 1), timezones=st.just(dt.UTC)
)


@given(
    status=st.sampled_from(list(CallStatus)),
    sequences=st.frozensets(st.integers(0, 50), max_size=6),
    duration=st.none() | st.integers(0, 7200),
    price=st.none() | st.decimals(min_value=-5, max_value=5, places=5, allow_nan=False),
    answered_by=st.none() | st.sampled_from(list(AnsweredBy)),
    answered_at=instants,
    ended_at=instants,
)
def test_the_snapshot_round_trips(
    status: CallStatus,
    sequences: frozenset[int],
    duration: int | None,
    price: Decimal | None,
    answered_by: AnsweredBy | None,
    answered_at: dt.datetime | None,
    ended_at: dt.datetime | None,
) -> None:
    state = CallState(
        status=status,
        sequences=sequences,
        final_key=(3, 4) if status.is_final else None,
        duration_s=duration,
        price=price,
        price_unit="USD" if price is not None else None,
        answered_by=answered_by,
        answered_at=answered_at,
        ended_at=ended_at,
    )
    assert snapshot.from_json(snapshot.to_json(state)) == state


def test_an_empty_snapshot_is_a_new_call() -> None:
    assert snapshot.from_json({}) == CallState()


@pytest.mark.parametrize(
    ("state", "cost"),
    [
        (CallState(status=CallStatus.COMPLETED, price=Decimal("-0.02800")), Decimal("0.02800")),
        (
            CallState(status=CallStatus.COMPLETED, billed_minutes=3, duration_s=130),
            Decimal("0.042"),
        ),
        (CallState(status=CallStatus.COMPLETED, duration_s=61), Decimal("0.028")),
        (CallState(status=CallStatus.BUSY), Decimal(0)),
        (CallState(status=CallStatus.FAILED, duration_s=0), Decimal(0)),
    ],
)
def test_the_cost_is_the_providers_price_else_the_billed_minutes(
    state: CallState, cost: Decimal
) -> None:
    assert call_cost(state, rate_per_minute=RATE) == cost


def test_machine_handling_follows_the_agent_unless_call_retry_says() -> None:
    agent_retry = TenantSettings.model_validate({"agent": {"machine_handling": "retry"}})
    assert outcome_settings(agent_retry).machine_handling is MachineHandling.RETRY
    both = TenantSettings.model_validate(
        {"agent": {"machine_handling": "retry"}, "call_retry": {"machine_handling": "voicemail"}}
    )
    assert outcome_settings(both).machine_handling is MachineHandling.VOICEMAIL
    custom = TenantSettings.model_validate(
        {"limits": {"max_attempts_per_lead": 5}, "call_retry": {"busy_delays_s": [60, 120]}}
    )
    settings = outcome_settings(custom)
    assert (settings.max_attempts_per_lead, settings.busy_retry_delays_s) == (5, (60, 120))
