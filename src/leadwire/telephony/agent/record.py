"""`CallRecord`: what one call leaves behind for storage and for ``GET /v1/calls/{id}``.

The transcript (timestamped, by speaker, agent turns marked with the agent that wrote them and
cut to what the caller heard when interrupted), token and cost totals, the typed events, the
outcome and the ``end`` frame with its handoffData, and the frames Twilio sent that could not
be read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from leadwire.telephony.agent.base import TurnUsage
from leadwire.telephony.agent.events import (
    EndReason,
    Outcome,
    SessionEvent,
    TranscriptEntry,
    UsageTotals,
)
from leadwire.telephony.agent.protocol import EndMessage, SetupMessage, to_wire


@dataclass(slots=True)
class CallRecord:
    setup: SetupMessage | None = None
    started_at: datetime | None = None
    transcript: list[TranscriptEntry] = field(default_factory=list)
    usage: UsageTotals = field(default_factory=UsageTotals)
    events: list[SessionEvent] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    outcome: Outcome | None = None
    end_reason: EndReason | None = None
    end_message: dict[str, Any] | None = None  # the ``end`` frame, once the call is over

    def add(
        self,
        *,
        at: datetime,
        speaker: Literal["agent", "caller"],
        text: str,
        kind: Literal["speech", "dtmf"] = "speech",
        source: str | None = None,
    ) -> int:
        """Append a transcript entry; its index lets an agent turn be settled later."""
        self.transcript.append(
            TranscriptEntry(at=at, speaker=speaker, text=text, kind=kind, source=source)
        )
        return len(self.transcript) - 1

    def settle(self, index: int, **changes: Any) -> None:
        """Update an agent entry once its words are known (all sent, or cut short)."""
        self.transcript[index] = replace(self.transcript[index], **changes)

    def account(self, usage: TurnUsage) -> None:
        self.usage.input_tokens += usage.input_tokens
        self.usage.output_tokens += usage.output_tokens
        self.usage.cost_usd += usage.cost_usd
        self.usage.agent_turns += 1
        if usage.fell_back:
            self.usage.fallback_turns += 1

    def finish(
        self, outcome: Outcome, reason: EndReason, handoff: dict[str, Any]
    ) -> dict[str, Any]:
        """Record the outcome; the ``end`` frame carrying `handoff` as JSON is returned."""
        self.outcome = outcome
        self.end_reason = reason
        data = json.dumps(handoff, separators=(",", ":"), ensure_ascii=False)
        self.end_message = to_wire(EndMessage(handoff_data=data))
        return self.end_message

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary (the route stores it with the call)."""
        return {
            "outcome": self.outcome.value if self.outcome else None,
            "end_reason": self.end_reason.value if self.end_reason else None,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "transcript": [entry.as_dict() for entry in self.transcript],
            "usage": {
                "input_tokens": self.usage.input_tokens,
                "output_tokens": self.usage.output_tokens,
                "cost_usd": round(self.usage.cost_usd, 6),
                "agent_turns": self.usage.agent_turns,
                "fallback_turns": self.usage.fallback_turns,
            },
            "handoff": json.loads(self.end_message["handoffData"]) if self.end_message else None,
            "problems": list(self.problems),
        }
