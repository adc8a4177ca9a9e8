"""The simulated carrier's shared records in Redis: per-number overrides and what it placed.

Overrides are what `PUT /v1/admin/simulator/numbers/{e164}` sets (the admin area mounts the
route and calls `set_override`); every process's carrier reads them at the next call. The call
log is the carrier's own side of the story (when each call was created and ended), which the
tests and the benchmark read to measure the account's calls per second from the provider's
side.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import phonenumbers
from redis.asyncio import Redis

from leadwire.platform.errors import InvalidPayload
from leadwire.platform.state import AppState
from leadwire.telephony.simulator_model import REJECTION_STATUS, NumberOverride, SimulatedOutcome

PREFIX = "leadwire:sim:"
OVERRIDE = PREFIX + "override:"
CALL = PREFIX + "call:"
TO_INDEX = PREFIX + "to:"
CREATES = PREFIX + "creates"
HANGUP = PREFIX + "hangup:"
ENDED = PREFIX + "ended:"
ANSWERED = PREFIX + "answered:"
LAST_SEQUENCE = PREFIX + "seq:"
TWIML = PREFIX + "twiml:"
RECORD_TTL_S = 2 * 86_400


@dataclass(frozen=True, slots=True)
class Override:
    """What the carrier does for one number. `api_latency_s` delays the carrier's answer to
    POST /Calls after the call already exists (to rehearse a dialer dying mid-dial)."""

    outcome: str
    duration_s: int | None = None
    error_code: int | None = None
    api_latency_s: float | None = None

    def to_model(self) -> NumberOverride:
        return NumberOverride(
            outcome=SimulatedOutcome(self.outcome),
            duration_s=self.duration_s,
            error_code=self.error_code,
        )


def _e164(value: str) -> str:
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise InvalidPayload(f"{value!r} is not an E.164 phone number", field="e164")
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


async def set_override(
    state: AppState,
    *,
    e164: str,
    outcome: str,
    duration_s: int | None = None,
    error_code: int | None = None,
    api_latency_s: float | None = None,
) -> Override:
    """Fix what the simulated carrier does when `e164` is called (until cleared)."""
    number = _e164(e164)
    try:
        SimulatedOutcome(outcome)
    except ValueError:
        names = ", ".join(o.value for o in SimulatedOutcome)
        raise InvalidPayload(f"outcome must be one of {names}", field="outcome") from None
    if duration_s is not None and not 1 <= duration_s <= 14_400:
        raise InvalidPayload("duration_s must be 1..14400", field="duration_s")
    if error_code is not None:
        if outcome != SimulatedOutcome.FAILED:
            raise InvalidPayload("error_code applies to outcome failed", field="error_code")
        if not 10_000 <= error_code <= 99_999:
            raise InvalidPayload("error_code must be a Twilio error code", field="error_code")
    if api_latency_s is not None and not 0 <= api_latency_s <= 120:
        raise InvalidPayload("api_latency_s must be 0..120", field="api_latency_s")
    override = Override(outcome, duration_s, error_code, api_latency_s)
    await state.redis.set(OVERRIDE + number, json.dumps(asdict(override)))
    return override


async def clear_override(state: AppState, *, e164: str) -> bool:
    return bool(await state.redis.delete(OVERRIDE + _e164(e164)))


async def get_override(redis: Redis, e164: str) -> Override | None:
    raw = await redis.get(OVERRIDE + e164)
    if raw is None:
        return None
    return Override(**json.loads(raw))


def rejects_at_create(override: Override | None) -> bool:
    """Whether the carrier answers POST /Calls with an error for this override."""
    return override is not None and (override.error_code or 0) in REJECTION_STATUS


@dataclass(frozen=True, slots=True)
class CarrierCall:
    """One call as the carrier saw it (milliseconds since the epoch)."""

    sid: str
    to: str
    from_: str
    created_ms: int
    natural_end_ms: int
    ended: dict[str, Any] | None


async def carrier_calls(redis: Redis) -> list[CarrierCall]:
    """Every call the simulated carrier created (oldest first), with how it ended."""
    sids = await redis.zrange(CREATES, 0, -1)
    calls: list[CarrierCall] = []
    for raw_sid in sids:
        sid = raw_sid.decode() if isinstance(raw_sid, bytes) else str(raw_sid)
        record_raw = await redis.get(CALL + sid)
        if record_raw is None:
            continue
        record = json.loads(record_raw)
        ended_raw = await redis.get(ENDED + sid)
        calls.append(
            CarrierCall(
                sid=sid,
                to=record["to"],
                from_=record["from"],
                created_ms=record["created_ms"],
                natural_end_ms=record["natural_end_ms"],
                ended=json.loads(ended_raw) if ended_raw else None,
            )
        )
    return calls
