"""What a relay session reports outward: outcome, typed events, transcript, usage."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal


class Outcome(enum.StrEnum):
    QUALIFIED = "qualified"
    TRANSFERRED = "transferred"
    BOOKED = "booked"
    NOT_INTERESTED = "not_interested"
    OPTED_OUT = "opted_out"
    VOICEMAIL = "voicemail"
    ENDED = "ended"


class EndReason(enum.StrEnum):
    """Why the session ended (``reason`` in handoffData)."""

    OPT_OUT = "opt_out"
    WRONG_PARTY = "wrong_party"
    TRANSFER = "transfer"
    BOOKED = "booked"
    QUALIFIED = "qualified"
    NOT_INTERESTED = "not_interested"
    CALLER_ENDED = "caller_ended"
    VOICEMAIL = "voicemail"
    TIME_LIMIT = "time_limit"
    TOKEN_LIMIT = "token_limit"  # noqa: S105 (a reason code, not a secret)
    HANGUP = "hangup"


@dataclass(frozen=True, slots=True)
class OptOut:
    """The callee revoked consent. The route must persist it (revocation + tenant DNC entry)
    before the WebSocket closes: the session awaits the event hook before it emits ``end``."""

    phone: str = field(repr=False)  # E.164; repr hides it so it never lands in a log line
    reason: EndReason  # OPT_OUT (asked to stop) or WRONG_PARTY (not the person who asked)
    via: Literal["speech", "dtmf"]
    heard: str  # the caller's words or "dtmf:9", as evidence


@dataclass(frozen=True, slots=True)
class TransferRequested:
    """Hand the caller to a person at `number` (the route answers the action URL with <Dial>)."""

    number: str
    handoff: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Booking:
    """The caller accepted a visit. `slot` is the caller's own words ("tomorrow morning"):
    turning it into a calendar time is the tenant's scheduling system's job."""

    slot: str
    details: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Ended:
    outcome: Outcome
    reason: EndReason


SessionEvent = OptOut | TransferRequested | Booking | Ended


@dataclass(frozen=True, slots=True)
class TranscriptEntry:
    at: datetime
    speaker: Literal["agent", "caller"]
    text: str
    kind: Literal["speech", "dtmf"] = "speech"
    # For agent turns: which agent wrote it ("local", "gemini", "script" for fixed lines) and
    # whether the caller cut it off (then `text` is only what was actually spoken).
    source: str | None = None
    interrupted: bool = False
    interrupted_after_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "at": self.at.isoformat(),
            "speaker": self.speaker,
            "text": self.text,
            "kind": self.kind,
        }
        if self.source is not None:
            data["source"] = self.source
        if self.interrupted:
            data["interrupted"] = True
            data["interrupted_after_ms"] = self.interrupted_after_ms
        return data


@dataclass(slots=True)
class UsageTotals:
    """Token and cost accumulators for one call (all agents, including the local floor)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    agent_turns: int = 0
    fallback_turns: int = 0  # turns the Gemini agent handed to the local floor

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens
