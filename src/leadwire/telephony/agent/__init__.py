"""The AI phone agent behind Twilio ConversationRelay.

`RelaySession` runs one call's conversation from ConversationRelay messages (`protocol`),
asking an `Agent` (`GeminiAgent`, with `LocalAgent` as its floor) to word each reply, and
reports outcomes as `SessionEvent`s. `run_relay` drives a session over a WebSocket-like
transport.
"""

from leadwire.telephony.agent.base import Agent, AgentDelta, AgentTurn, CallContext, TurnUsage
from leadwire.telephony.agent.events import (
    Booking,
    Ended,
    EndReason,
    OptOut,
    Outcome,
    SessionEvent,
    TranscriptEntry,
    TransferRequested,
    UsageTotals,
)
from leadwire.telephony.agent.gemini import GeminiAgent
from leadwire.telephony.agent.local import LocalAgent
from leadwire.telephony.agent.record import CallRecord
from leadwire.telephony.agent.runner import run_relay
from leadwire.telephony.agent.session import RelaySession, SessionLimits

__all__ = [
    "Agent",
    "AgentDelta",
    "AgentTurn",
    "Booking",
    "CallContext",
    "CallRecord",
    "EndReason",
    "Ended",
    "GeminiAgent",
    "LocalAgent",
    "OptOut",
    "Outcome",
    "RelaySession",
    "SessionEvent",
    "SessionLimits",
    "TranscriptEntry",
    "TransferRequested",
    "TurnUsage",
    "UsageTotals",
    "run_relay",
]
