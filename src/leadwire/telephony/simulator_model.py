"""The pure part of the simulated carrier: what Twilio would send for one call, and when.

`simulate_call` takes a seed, the numbers, an optional per-number override (set with
``PUT /v1/admin/simulator/numbers/{e164}``) and a time-compression factor, and returns the
Call resource Twilio would answer to POST /Calls, or the error it would answer, plus every
callback with its form parameters shaped as Twilio sends them (reference/integrations.md §6.2)
and the delay after which to send it. The I/O part signs each with `signatures.sign` and POSTs
it to the URL given at `create_call`.

The same seed gives the same call, byte for byte. Pass a seed that combines the run's seed and
the attempt (``f"{run_seed}:{call_id}"``) so that a retry of a number can turn out differently.

Default outcome mix (`DEFAULT_MIX`), chosen to resemble outbound calls to fresh web leads:
answered by a person 55 %, no answer 20 %, answering machine 12 %, busy 8 %, failed 5 %.

Times: `at_s` is when to send, compressed (logical seconds / `time_compression`), and the
`Timestamp` parameter is the send time. `CallDuration`/`Duration` and the Call resource's
`duration` keep the logical, uncompressed length of the call, as a billing record would.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any, TypeVar

from leadwire.telephony.call_status import AnsweredBy, CallStatus

API_VERSION = "2010-04-01"
PRICE_PER_MINUTE = Decimal("0.0140")
PRICE_UNIT = "USD"

_T = TypeVar("_T")


class SimulatedOutcome(enum.StrEnum):
    ANSWERED = "answered"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    MACHINE = "machine"
    FAILED = "failed"


DEFAULT_MIX: tuple[tuple[SimulatedOutcome, float], ...] = (
    (SimulatedOutcome.ANSWERED, 0.55),
    (SimulatedOutcome.NO_ANSWER, 0.20),
    (SimulatedOutcome.MACHINE, 0.12),
    (SimulatedOutcome.BUSY, 0.08),
    (SimulatedOutcome.FAILED, 0.05),
)

# A failed call without an override fails like a number no carrier could deliver.
DEFAULT_FAILURE_CODE = 13224

# Error codes Twilio answers at POST /Calls (no call is created, no callback follows), with
# their HTTP status. The status of 10004 and 22005 is not in the reference; `classify` goes by
# the code, so only the code matters.
REJECTION_STATUS: Mapping[int, int] = {
    10004: 400,
    20003: 401,
    20404: 404,
    20429: 429,
    21205: 400,
    21210: 400,
    21211: 400,
    21212: 400,
    21213: 400,
    21214: 400,
    21215: 400,
    21216: 400,
    21217: 400,
    21218: 400,
    21219: 400,
    22005: 400,
}

ERROR_NAMES: Mapping[int, str] = {
    10004: "Call concurrency limit exceeded",
    11200: "HTTP retrieval failure",
    13224: "Twilio does not support calling this number or the number is invalid",
    13227: "Geo Permission configuration is not permitting call",
    20003: "Permission Denied",
    20404: "Not Found",
    20429: "Too Many Requests",
    21205: "Invalid URL",
    21210: "'From' phone number not verified",
    21211: "Invalid 'To' Phone Number",
    21212: "Invalid From Number (caller ID)",
    21213: "Caller phone number is required",
    21214: "'To' phone number cannot be reached",
    21215: "Geo Permission configuration is not permitting call",
    21216: "API: Call blocked by Twilio",
    21217: "Phone number does not appear to be valid",
    21218: "Invalid ApplicationSid",
    21219: "'To' phone number not verified",
    22005: "Call Queue Full",
    32205: "Geo Permission configuration is not permitting call",
}

_MACHINE_RESULTS: tuple[tuple[AnsweredBy, float], ...] = (
    (AnsweredBy.MACHINE_END_BEEP, 0.7),
    (AnsweredBy.MACHINE_END_SILENCE, 0.2),
    (AnsweredBy.MACHINE_END_OTHER, 0.1),
)

_SIP_CODES: Mapping[CallStatus, str] = {
    CallStatus.COMPLETED: "200",
    CallStatus.BUSY: "486",
    CallStatus.NO_ANSWER: "487",
}


@dataclass(frozen=True, slots=True)
class NumberOverride:
    """What the carrier does for one number, whatever the seed says."""

    outcome: SimulatedOutcome
    duration_s: int | None = None
    error_code: int | None = None


class CallbackKind(enum.StrEnum):
    STATUS = "status"  # to the StatusCallback URL
    VOICE = "voice"  # the TwiML request to the Url, when the call is answered
    AMD = "amd"  # to the AsyncAmdStatusCallback URL


@dataclass(frozen=True, slots=True)
class ScheduledCallback:
    at_s: float
    kind: CallbackKind
    params: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class SimulatedRejection:
    http_status: int
    body: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class SimulatedCall:
    call_sid: str
    outcome: SimulatedOutcome
    rejection: SimulatedRejection | None
    callbacks: tuple[ScheduledCallback, ...]
    created: Mapping[str, Any]  # the Call resource answered to POST /Calls
    final: Mapping[str, Any]  # the Call resource once the call has ended


def _pick(rng: random.Random, weighted: tuple[tuple[_T, float], ...]) -> _T:
    values = [value for value, _ in weighted]
    weights = [weight for _, weight in weighted]
    return rng.choices(values, weights=weights, k=1)[0]


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment)


@dataclass(frozen=True, slots=True)
class _Event:
    logical_s: float
    kind: CallbackKind
    status: CallStatus  # for an AMD result, the status it implies (in-progress)
    answered_by: AnsweredBy = AnsweredBy.UNKNOWN
    detection_ms: int = 0


def _timeline(
    rng: random.Random, outcome: SimulatedOutcome, *, duration_s: int, ring_timeout_s: int
) -> list[_Event]:
    """Logical seconds after POST /Calls of each callback, without any parameters yet."""
    initiated = rng.uniform(0.2, 1.0)  # time in Twilio's queue before dialing
    ringing = initiated + rng.uniform(0.5, 2.0)
    events = [_Event(initiated, CallbackKind.STATUS, CallStatus.INITIATED)]
    if outcome is SimulatedOutcome.FAILED:
        events.append(
            _Event(initiated + rng.uniform(0.5, 2.0), CallbackKind.STATUS, CallStatus.FAILED)
        )
        return events
    events.append(_Event(ringing, CallbackKind.STATUS, CallStatus.RINGING))
    if outcome is SimulatedOutcome.BUSY:
        events.append(_Event(ringing + rng.uniform(1.0, 4.0), CallbackKind.STATUS, CallStatus.BUSY))
        return events
    if outcome is SimulatedOutcome.NO_ANSWER:
        events.append(_Event(ringing + ring_timeout_s, CallbackKind.STATUS, CallStatus.NO_ANSWER))
        return events
    answered = ringing + rng.uniform(3.0, min(20.0, ring_timeout_s - 1.0))
    if outcome is SimulatedOutcome.MACHINE:
        answered_by = _pick(rng, _MACHINE_RESULTS)
        detection_s = rng.uniform(8.0, 20.0)  # greeting and beep
    else:
        answered_by = AnsweredBy.HUMAN
        detection_s = rng.uniform(1.5, 3.5)
    detection_s = min(detection_s, max(duration_s - 0.5, 0.1))
    events += [
        _Event(answered, CallbackKind.STATUS, CallStatus.IN_PROGRESS),
        _Event(answered, CallbackKind.VOICE, CallStatus.IN_PROGRESS),
        _Event(
            answered + detection_s,
            CallbackKind.AMD,
            CallStatus.IN_PROGRESS,
            answered_by=answered_by,
            detection_ms=round(detection_s * 1000),
        ),
        _Event(answered + duration_s, CallbackKind.STATUS, CallStatus.COMPLETED),
    ]
    return events


def _default_duration(rng: random.Random, outcome: SimulatedOutcome) -> int:
    if outcome is SimulatedOutcome.ANSWERED:
        return rng.randint(30, 240)
    if outcome is SimulatedOutcome.MACHINE:
        return rng.randint(15, 40)
    return 0


def _rejection(error_code: int) -> SimulatedRejection:
    status = REJECTION_STATUS[error_code]
    body = {
        "code": error_code,
        "message": ERROR_NAMES.get(error_code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{error_code}",
        "status": status,
    }
    return SimulatedRejection(http_status=status, body=body)


def _status_params(
    event: _Event, *, sequence: int, sent_at: datetime, duration_s: int, error_code: int | None
) -> dict[str, str]:
    """What a status callback adds to the standard request parameters."""
    params = {
        "CallbackSource": "call-progress-events",
        "SequenceNumber": str(sequence),
        "Timestamp": _rfc2822(sent_at),
    }
    if event.status.is_final:
        params["CallDuration"] = str(duration_s)
        params["Duration"] = str(math.ceil(duration_s / 60))
        if event.status in _SIP_CODES:
            params["SipResponseCode"] = _SIP_CODES[event.status]
        if error_code is not None:
            params["ErrorCode"] = str(error_code)
            params["ErrorMessage"] = ERROR_NAMES.get(error_code, "Call failed")
    return params


def simulate_call(
    *,
    seed: int | str,
    account_sid: str,
    to: str,
    from_: str,
    started_at: datetime,
    override: NumberOverride | None = None,
    time_compression: float = 1.0,
    ring_timeout_s: int = 30,
    duplicate_probability: float = 0.0,
    mix: tuple[tuple[SimulatedOutcome, float], ...] = DEFAULT_MIX,
) -> SimulatedCall:
    """Everything Twilio would answer and send for one call (see the module docstring).

    `duplicate_probability` re-sends a status callback a moment later, as Twilio's webhook
    retry does after a connection failure, to exercise the state machine end to end.
    """
    if time_compression <= 0:
        raise ValueError("time_compression must be positive")
    rng = random.Random(f"{seed}|{to}")
    call_sid = f"CA{rng.getrandbits(128):032x}"
    outcome = override.outcome if override else _pick(rng, mix)
    duration_s = _default_duration(rng, outcome)
    if override and override.duration_s is not None and duration_s:
        duration_s = max(1, override.duration_s)
    error_code = None
    if outcome is SimulatedOutcome.FAILED:
        error_code = (override.error_code if override else None) or DEFAULT_FAILURE_CODE
    if error_code is not None and error_code in REJECTION_STATUS:
        return SimulatedCall(call_sid, outcome, _rejection(error_code), (), {}, {})

    def sent_at(logical_s: float) -> datetime:
        return started_at + timedelta(seconds=logical_s / time_compression)

    events = _timeline(rng, outcome, duration_s=duration_s, ring_timeout_s=ring_timeout_s)
    request = {
        "AccountSid": account_sid,
        "ApiVersion": API_VERSION,
        "CallSid": call_sid,
        "Called": to,
        "Caller": from_,
        "Direction": "outbound-api",
        "From": from_,
        "To": to,
    }
    callbacks: list[ScheduledCallback] = []
    sequence = 0
    for event in events:
        at_s = event.logical_s / time_compression
        if event.kind is CallbackKind.AMD:
            params = {
                "AccountSid": account_sid,
                "CallSid": call_sid,
                "AnsweredBy": event.answered_by.value,
                "MachineDetectionDuration": str(event.detection_ms),
            }
        else:
            params = {**request, "CallStatus": event.status.value}
        if event.kind is CallbackKind.STATUS:
            params |= _status_params(
                event,
                sequence=sequence,
                sent_at=sent_at(event.logical_s),
                duration_s=duration_s,
                error_code=error_code,
            )
            sequence += 1
        callbacks.append(ScheduledCallback(at_s, event.kind, params))
        if event.kind is CallbackKind.STATUS and rng.random() < duplicate_probability:
            callbacks.append(ScheduledCallback(at_s + rng.uniform(0.1, 2.0), event.kind, params))
    callbacks.sort(key=lambda callback: callback.at_s)

    created = {
        "sid": call_sid,
        "account_sid": account_sid,
        "to": to,
        "from": from_,
        "status": CallStatus.QUEUED.value,
        "direction": "outbound-api",
        "api_version": API_VERSION,
        "date_created": _rfc2822(started_at),
        "date_updated": _rfc2822(started_at),
        "start_time": None,
        "end_time": None,
        "duration": None,
        "price": None,
        "price_unit": PRICE_UNIT,
        "answered_by": None,
        "queue_time": "0",
        "parent_call_sid": None,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/Calls/{call_sid}.json",
    }
    answered = any(e.status is CallStatus.IN_PROGRESS for e in events)
    amd = next((e.answered_by for e in events if e.kind is CallbackKind.AMD), None)
    ended_at = _rfc2822(sent_at(events[-1].logical_s))
    final = {
        **created,
        "status": events[-1].status.value,
        "date_updated": ended_at,
        "start_time": _rfc2822(sent_at(events[0].logical_s)),
        "end_time": ended_at,
        "duration": str(duration_s) if answered else None,
        "price": f"-{PRICE_PER_MINUTE * math.ceil(duration_s / 60):.5f}" if answered else None,
        "answered_by": amd.value if amd else None,
    }
    return SimulatedCall(call_sid, outcome, None, tuple(callbacks), created, final)
