"""The `Agent` protocol and the data a turn carries between the session and an agent.

The session owns the conversation: it decides what must happen (disclose, qualify, offer,
confirm an opt-out, end) and which qualification item comes next. An agent only words the
next reply for one `AgentTurn` and streams it as `AgentDelta`s. Everything compliance-bound
(the disclosure, opt-out, transfer, goodbyes) is fixed text from the session, never a model's.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from leadwire.leads.enrichment.base import LeadFacts


@dataclass(frozen=True, slots=True)
class CallContext:
    """Who is calling whom about what: the tenant's `agent` settings and the lead's facts."""

    business_name: str
    phone: str = field(repr=False)  # the callee, E.164; only used for the OptOut event
    lead: LeadFacts = field(default_factory=LeadFacts)
    script: str = ""
    transfer_number: str | None = None
    # A number of the business the callee can call back (47 CFR 64.1200(b)(2)); said in the
    # closing lines and the voicemail. Usually the tenant's caller ID.
    callback_number: str | None = None
    voicemail: str | None = None  # the tenant's voicemail text
    language: str = "en-US"


class TurnGoal(enum.StrEnum):
    OPEN = "open"  # right after the disclosure: say why we call, ask the first item
    ASK = "ask"  # acknowledge what was learned, ask the next item
    REASK = "reask"  # the caller's words did not answer: ask the same item again
    OFFER = "offer"  # everything is known: offer to book (and to transfer, if possible)
    REOFFER = "reoffer"  # the answer to the offer was unclear


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One qualification item: a stable key and the plain question that asks for it."""

    key: str  # "need", "urgency", "address", "best_time", or "script:<n>"
    topic: str  # what it is about, for a model's instructions
    question: str


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: Literal["agent", "caller"]
    text: str


@dataclass(frozen=True, slots=True)
class AgentTurn:
    context: CallContext
    goal: TurnGoal
    history: tuple[Utterance, ...]  # what was said before, as the caller heard it
    caller_text: str  # the caller's latest words ("" on the opening turn)
    qualification: Mapping[str, Any]  # what is known so far (see `Qualification.as_dict`)
    learned: tuple[str, ...]  # item keys the latest words answered
    next_item: PlanItem | None  # the item to ask about (None with OFFER/REOFFER)
    max_output_tokens: int = 150


@dataclass(frozen=True, slots=True)
class TurnUsage:
    source: str  # "local" or "gemini"
    input_tokens: int
    output_tokens: int
    cost_usd: float = 0.0
    fell_back: bool = False  # the turn was meant for Gemini and the local floor answered


@dataclass(frozen=True, slots=True)
class AgentDelta:
    """A piece of the reply to speak; the last delta of a turn may carry only `usage`."""

    text: str = ""
    usage: TurnUsage | None = None


class Agent(Protocol):
    """Words one reply. Must not raise for provider trouble: fall back and keep talking."""

    @property
    def name(self) -> str: ...

    def reply(self, turn: AgentTurn) -> AsyncIterator[AgentDelta]: ...
