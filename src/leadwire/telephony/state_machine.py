"""The forward-only call state machine.

Twilio fires status callbacks in order but delivers them as separate requests, so they arrive
late, twice, or out of order (reference/integrations.md §6.2). `apply` folds one callback into
the call's state and never moves it backwards::

    queued -> initiated -> ringing -> in-progress
           -> completed | busy | no-answer | failed | canceled

Rules, in order:

1. A callback whose `SequenceNumber` was already applied is a duplicate: nothing changes.
2. The status moves only to a later stage. A `ringing` after `in-progress`, or anything after a
   final status, does not change the status (`answered` events carry `in-progress`; an AMD
   result or the voice webhook also proves the call was answered).
3. Two different final statuses (only when a reconciliation source disagrees with a callback):
   the higher `SequenceNumber` wins (a callback beats a source without one), then the order
   canceled < no-answer < busy < failed < completed. So the final status is a maximum and does
   not depend on arrival order.
4. Data is merged even from a late callback, filling only what is still empty: `CallDuration`,
   `Duration`, price, `ErrorCode`, `SipResponseCode`, `AnsweredBy`, the AMD duration and the
   timestamp of the callback's own stage. A late final callback carrying `CallDuration` after
   the call was already marked `completed` by another source therefore still records the
   duration; a late `ringing` still records when ringing began. Values already set are kept
   (re-deliveries carry the same values).

Because every step is a maximum or a first-value-wins merge keyed by stage, any permutation
or duplication of one call's callbacks reaches the same state as the in-order sequence.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from leadwire.telephony.call_status import AnsweredBy, CallStatus

_RANK: dict[CallStatus, int] = {
    CallStatus.QUEUED: 0,
    CallStatus.INITIATED: 1,
    CallStatus.RINGING: 2,
    CallStatus.IN_PROGRESS: 3,
    CallStatus.COMPLETED: 4,
    CallStatus.BUSY: 4,
    CallStatus.NO_ANSWER: 4,
    CallStatus.FAILED: 4,
    CallStatus.CANCELED: 4,
}

_FINAL_PRECEDENCE: dict[CallStatus, int] = {
    CallStatus.CANCELED: 0,
    CallStatus.NO_ANSWER: 1,
    CallStatus.BUSY: 2,
    CallStatus.FAILED: 3,
    CallStatus.COMPLETED: 4,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class CallFacts:
    """Facts a callback can report and the state keeps, merged first-value-wins (rule 4)."""

    duration_s: int | None = None
    billed_minutes: int | None = None
    price: Decimal | None = None
    price_unit: str | None = None
    error_code: int | None = None
    sip_response_code: int | None = None
    answered_by: AnsweredBy | None = None
    machine_detection_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackEvent(CallFacts):
    """One callback (or reconciliation result) about a call, parsed into data.

    `status` is None for an asynchronous AMD result, which carries only `answered_by`.
    `sequence_number` is None for sources other than Twilio's status callbacks.
    """

    status: CallStatus | None
    sequence_number: int | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallState(CallFacts):
    """What is known about a call; `CallState()` is a call just created (`queued`)."""

    status: CallStatus = CallStatus.QUEUED
    # (SequenceNumber or -1, precedence) of the final status, to settle disagreeing finals.
    final_key: tuple[int, int] | None = None
    sequences: frozenset[int] = frozenset()
    initiated_at: datetime | None = None
    ringing_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def was_answered(self) -> bool:
        return self.status is CallStatus.IN_PROGRESS or self.status is CallStatus.COMPLETED


class Effect(enum.StrEnum):
    ADVANCED = "advanced"  # the status moved forward
    CORRECTED = "corrected"  # a final status replaced by a more authoritative one
    MERGED = "merged"  # status unchanged; the callback filled in data
    DUPLICATE = "duplicate"  # this SequenceNumber was applied before
    STALE = "stale"  # late, and nothing in it was new


@dataclass(frozen=True, slots=True)
class Transition:
    state: CallState
    previous: CallStatus
    effect: Effect

    @property
    def became_final(self) -> bool:
        """True exactly once per call: release the slot and decide the outcome now."""
        return not self.previous.is_final and self.state.status.is_final

    @property
    def changed(self) -> bool:
        return self.effect in {Effect.ADVANCED, Effect.CORRECTED, Effect.MERGED}


_MERGED_FIELDS = tuple(field.name for field in fields(CallFacts))


def _stage_timestamp_field(status: CallStatus) -> str | None:
    if status is CallStatus.INITIATED:
        return "initiated_at"
    if status is CallStatus.RINGING:
        return "ringing_at"
    if status is CallStatus.IN_PROGRESS:
        return "answered_at"
    if status.is_final:
        return "ended_at"
    return None


def _implied_status(event: CallbackEvent) -> CallStatus | None:
    if event.status is not None:
        return event.status
    if event.answered_by is not None:
        return CallStatus.IN_PROGRESS  # an AMD result exists only for an answered call
    return None


def _next_status(
    current: CallState, target: CallStatus, sequence_number: int | None
) -> tuple[CallStatus, tuple[int, int] | None]:
    if target.is_final:
        key = (-1 if sequence_number is None else sequence_number, _FINAL_PRECEDENCE[target])
        if current.final_key is None or key > current.final_key:
            return target, key
        return current.status, current.final_key
    if _RANK[target] > _RANK[current.status]:
        return target, current.final_key
    return current.status, current.final_key


def apply(current: CallState, event: CallbackEvent) -> Transition:
    """Fold one callback into the call's state (pure; see the module docstring for the rules)."""
    sequence = event.sequence_number
    if sequence is not None and sequence in current.sequences:
        return Transition(state=current, previous=current.status, effect=Effect.DUPLICATE)

    updates: dict[str, Any] = {}
    target = _implied_status(event)
    if target is not None:
        status, final_key = _next_status(current, target, sequence)
        if status is not current.status:
            updates["status"] = status
        if final_key != current.final_key:
            updates["final_key"] = final_key
    for name in _MERGED_FIELDS:
        value = getattr(event, name)
        if value is not None and getattr(current, name) is None:
            updates[name] = value
    if event.status is not None and event.timestamp is not None:
        stamp = _stage_timestamp_field(event.status)
        if stamp is not None and getattr(current, stamp) is None:
            updates[stamp] = event.timestamp

    if "status" in updates:
        effect = Effect.CORRECTED if current.status.is_final else Effect.ADVANCED
    elif updates:
        effect = Effect.MERGED
    else:
        effect = Effect.STALE
    if sequence is not None:
        updates["sequences"] = current.sequences | {sequence}
    state = replace(current, **updates) if updates else current
    return Transition(state=state, previous=current.status, effect=effect)


def fold(events: list[CallbackEvent], state: CallState | None = None) -> CallState:
    """Apply callbacks in the order given (reconciliation and tests)."""
    current = state or CallState()
    for event in events:
        current = apply(current, event).state
    return current
