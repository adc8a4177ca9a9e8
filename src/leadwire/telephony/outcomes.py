"""What happens to a lead after a call: close it, call again later, hold it, or dead-letter it.

Two pure decisions:

* `decide_machine` runs when the asynchronous AMD result arrives during the call: keep talking
  (a person, or unknown), drop the tenant's voicemail (redirect the live call to the voicemail
  TwiML), or hang up to try again later.
* `decide_outcome` runs once, when the call reaches its final status
  (`Transition.became_final`).

A retry is only a `not_before`: the lead goes through the compliance gate again before it is
dialed, so calling hours, DNC and attempt caps still apply to it.

Failed calls are decided by their `ErrorCode`'s class (`platform.classify`):

==========================  ==============================================================
class of the ErrorCode      decision
==========================  ==============================================================
validation                  close as `invalid_number` (21211, 21217, 13223, ...)
consent                     close as `blocked` (21610)
business                    hold for the tenant, escalate (21210, 21212: caller ID)
system, not retryable       dead letter, escalate (21215 geo permissions, our bugs)
external, not retryable     close as `failed`, escalate (21216: blocked by Twilio)
retryable                   retry at `platform.retry.next_retry`; exhausted: close as
                            `failed` (external) or dead letter (temporary/rate/system)
==========================  ==============================================================
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from leadwire.platform.classify import Classification, classify_provider_error
from leadwire.platform.errors import ErrorClass
from leadwire.platform.retry import next_retry
from leadwire.telephony.call_status import AnsweredBy, CallStatus


class MachineHandling(enum.StrEnum):
    VOICEMAIL = "voicemail"  # leave the tenant's message after the beep, then close
    RETRY = "retry"  # hang up and call again later


class MachineAction(enum.StrEnum):
    CONTINUE = "continue"
    VOICEMAIL = "voicemail"
    HANGUP = "hangup"


class OutcomeAction(enum.StrEnum):
    CLOSE = "close"
    RETRY = "retry"
    HOLD = "hold"  # wait for the tenant to fix its settings; not retried by itself
    DEAD_LETTER = "dead_letter"  # our side failed; an admin resolves or replays it


class CallOutcome(enum.StrEnum):
    CONNECTED = "connected"
    VOICEMAIL_LEFT = "voicemail_left"
    MACHINE = "machine"
    FAX = "fax"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    CANCELED = "canceled"
    FAILED = "failed"
    INVALID_NUMBER = "invalid_number"
    BLOCKED = "blocked"
    HELD = "held"


@dataclass(frozen=True, slots=True)
class OutcomeSettings:
    """The tenant's retry policy for call outcomes.

    Delays are per attempt: the n-th attempt's outcome waits ``delays[n - 1]`` (the last one
    repeats). An empty tuple means that outcome is never retried.
    """

    max_attempts_per_lead: int = 3
    busy_retry_delays_s: tuple[int, ...] = (300, 1200, 3600)
    no_answer_retry_delays_s: tuple[int, ...] = (600, 3600, 14400)
    machine_retry_delays_s: tuple[int, ...] = (3600, 14400)
    machine_handling: MachineHandling = MachineHandling.VOICEMAIL

    @classmethod
    def from_tenant_settings(cls, settings: Mapping[str, Any]) -> OutcomeSettings:
        """Read `limits.max_attempts_per_lead` and the optional `call_retry` block::

        {"call_retry": {"busy_delays_s": [300, 1200], "no_answer_delays_s": [600],
                        "machine_delays_s": [3600], "machine_handling": "voicemail"}}
        """
        default = cls()
        limits = settings.get("limits") or {}
        retry = settings.get("call_retry") or {}

        def delays(key: str, fallback: tuple[int, ...]) -> tuple[int, ...]:
            values: Sequence[int] | None = retry.get(key)
            return fallback if values is None else tuple(int(v) for v in values)

        return cls(
            max_attempts_per_lead=int(
                limits.get("max_attempts_per_lead", default.max_attempts_per_lead)
            ),
            busy_retry_delays_s=delays("busy_delays_s", default.busy_retry_delays_s),
            no_answer_retry_delays_s=delays("no_answer_delays_s", default.no_answer_retry_delays_s),
            machine_retry_delays_s=delays("machine_delays_s", default.machine_retry_delays_s),
            machine_handling=MachineHandling(
                retry.get("machine_handling", default.machine_handling)
            ),
        )


@dataclass(frozen=True, slots=True)
class FinalCall:
    """A call in its final status; `attempt` is this call's number for the lead (1-based)."""

    status: CallStatus
    attempt: int
    answered_by: AnsweredBy | None = None
    error_code: int | None = None
    duration_s: int | None = None
    voicemail_left: bool = False


@dataclass(frozen=True, slots=True)
class CallOutcomeDecision:
    action: OutcomeAction
    outcome: CallOutcome
    reason: str
    not_before: datetime | None = None
    classification: Classification | None = None
    escalate: bool = False


def decide_machine(answered_by: AnsweredBy, *, settings: OutcomeSettings) -> MachineAction:
    """What to do with a live call when the AMD result arrives."""
    if answered_by is AnsweredBy.FAX:
        return MachineAction.HANGUP
    if not answered_by.is_machine:
        # A person, or AMD could not tell: talking to a person as if to a machine is worse.
        return MachineAction.CONTINUE
    if settings.machine_handling is MachineHandling.VOICEMAIL:
        return MachineAction.VOICEMAIL
    return MachineAction.HANGUP


def _retry_after_delay(
    outcome: CallOutcome,
    delays: tuple[int, ...],
    *,
    call: FinalCall,
    settings: OutcomeSettings,
    now: datetime,
) -> CallOutcomeDecision:
    if call.attempt >= settings.max_attempts_per_lead:
        return CallOutcomeDecision(OutcomeAction.CLOSE, outcome, "max_attempts_reached")
    if not delays:
        return CallOutcomeDecision(OutcomeAction.CLOSE, outcome, "not_retried_by_tenant_policy")
    delay = delays[min(call.attempt, len(delays)) - 1]
    return CallOutcomeDecision(
        OutcomeAction.RETRY, outcome, f"retry_after_{outcome}", now + timedelta(seconds=delay)
    )


def _decide_failed(
    call: FinalCall, *, settings: OutcomeSettings, now: datetime, rng: random.Random
) -> CallOutcomeDecision:
    classification = classify_provider_error(provider="twilio", provider_code=call.error_code)
    error_class = classification.error_class
    escalate = classification.escalate

    def decision(
        action: OutcomeAction, outcome: CallOutcome, reason: str, at: datetime | None = None
    ) -> CallOutcomeDecision:
        return CallOutcomeDecision(action, outcome, reason, at, classification, escalate)

    if error_class is ErrorClass.VALIDATION:
        return decision(OutcomeAction.CLOSE, CallOutcome.INVALID_NUMBER, classification.code)
    if error_class is ErrorClass.CONSENT:
        return decision(OutcomeAction.CLOSE, CallOutcome.BLOCKED, classification.code)
    if error_class is ErrorClass.BUSINESS:
        return decision(OutcomeAction.HOLD, CallOutcome.HELD, classification.code)
    if not classification.retryable:
        if error_class is ErrorClass.EXTERNAL:
            return decision(OutcomeAction.CLOSE, CallOutcome.FAILED, classification.code)
        return decision(OutcomeAction.DEAD_LETTER, CallOutcome.FAILED, classification.code)
    if call.attempt >= settings.max_attempts_per_lead:
        return decision(OutcomeAction.CLOSE, CallOutcome.FAILED, "max_attempts_reached")
    at = next_retry(classification, attempt=call.attempt, rng=rng, now=now)
    if at is not None:
        return decision(OutcomeAction.RETRY, CallOutcome.FAILED, classification.code, at)
    if error_class is ErrorClass.EXTERNAL:
        return decision(OutcomeAction.CLOSE, CallOutcome.FAILED, "retries_exhausted")
    return decision(OutcomeAction.DEAD_LETTER, CallOutcome.FAILED, "retries_exhausted")


def decide_outcome(
    call: FinalCall, *, settings: OutcomeSettings, now: datetime, rng: random.Random
) -> CallOutcomeDecision:
    """The lead's next step after a call reached its final status."""
    if call.attempt < 1:
        raise ValueError("attempt counts from 1")
    status = call.status
    if status is CallStatus.COMPLETED:
        if call.answered_by is AnsweredBy.FAX:
            return CallOutcomeDecision(OutcomeAction.CLOSE, CallOutcome.FAX, "fax_answered")
        if call.answered_by is not None and call.answered_by.is_machine:
            if call.voicemail_left:
                return CallOutcomeDecision(
                    OutcomeAction.CLOSE, CallOutcome.VOICEMAIL_LEFT, "voicemail_left"
                )
            return _retry_after_delay(
                CallOutcome.MACHINE,
                settings.machine_retry_delays_s,
                call=call,
                settings=settings,
                now=now,
            )
        return CallOutcomeDecision(OutcomeAction.CLOSE, CallOutcome.CONNECTED, "connected")
    if status is CallStatus.BUSY:
        delays = settings.busy_retry_delays_s
        return _retry_after_delay(CallOutcome.BUSY, delays, call=call, settings=settings, now=now)
    if status is CallStatus.NO_ANSWER or status is CallStatus.CANCELED:
        # Canceled: we ended it before an answer (emergency hang-up, pause); the lead is held,
        # never dropped, and comes back like an unanswered call.
        outcome = CallOutcome.NO_ANSWER if status is CallStatus.NO_ANSWER else CallOutcome.CANCELED
        delays = settings.no_answer_retry_delays_s
        return _retry_after_delay(outcome, delays, call=call, settings=settings, now=now)
    if status is CallStatus.FAILED:
        return _decide_failed(call, settings=settings, now=now, rng=rng)
    raise ValueError(f"call status {status} is not final")
