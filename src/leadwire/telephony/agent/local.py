"""The deterministic scripted agent: the floor that holds a whole qualification call offline.

It words each turn from templates grounded in the lead's own data (its service, its message,
its zip code) and in what the caller said, and streams the reply a few words at a time,
yielding to the event loop between pieces so an interrupt is seen mid-reply. The first piece
is produced without any I/O, so it is out in microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from typing import Any

from leadwire.leads.enrichment.base import Urgency
from leadwire.leads.enrichment.gemini_client import estimate_tokens
from leadwire.telephony.agent.base import AgentDelta, AgentTurn, TurnGoal, TurnUsage
from leadwire.telephony.agent.phrases import TRANSFER_DIGIT
from leadwire.telephony.agent.qualification import ADDRESS, BEST_TIME, NEED, URGENCY_KEY

WORDS_PER_TOKEN = 4
MAX_ECHOED_WORDS = 15


def _acknowledge(learned: tuple[str, ...], qualification: Mapping[str, Any]) -> str:
    if not learned:
        return "Okay."
    if URGENCY_KEY in learned and qualification.get(URGENCY_KEY) == Urgency.EMERGENCY.value:
        return "That sounds urgent, I'm sorry you're dealing with that."
    if NEED in learned:
        return "Thanks for explaining."
    if BEST_TIME in learned and qualification.get(BEST_TIME):
        return f"Okay, {qualification[BEST_TIME]}."
    if ADDRESS in learned:
        return "Got it, thank you."
    return "Got it."


def _opening(turn: AgentTurn) -> str:
    """The first question, tied to what the lead wrote when it is short enough to echo."""
    message = turn.context.lead.message
    question = turn.next_item.question if turn.next_item else ""
    if message and turn.qualification.get(NEED) and len(message.split()) <= MAX_ECHOED_WORDS:
        return f'You wrote: "{message.strip().rstrip(".")}." {question}'
    return question


def _offer(turn: AgentTurn) -> str:
    context = turn.context
    slot = turn.qualification.get(BEST_TIME)
    name = context.lead.first_name
    thanks = f"Thank you, {name}." if name else "Thank you."
    line = (
        f"{thanks} I can request a visit for {slot}. Would you like me to book that?"
        if slot
        else f"{thanks} Would you like me to book a visit?"
    )
    if context.transfer_number:
        line += (
            f" Or I can connect you with someone from {context.business_name} now; "
            f"just say so or press {TRANSFER_DIGIT}."
        )
    return line


def compose_reply(turn: AgentTurn) -> str:
    """The whole reply text for `turn` (pure)."""
    question = turn.next_item.question if turn.next_item else ""
    match turn.goal:
        case TurnGoal.OPEN:
            return _opening(turn)
        case TurnGoal.ASK:
            return f"{_acknowledge(turn.learned, turn.qualification)} {question}".strip()
        case TurnGoal.REASK:
            return f"Sorry, I didn't quite catch that. {question}".strip()
        case TurnGoal.OFFER:
            return _offer(turn)
        case TurnGoal.REOFFER:
            slot = turn.qualification.get(BEST_TIME)
            what = f"the visit for {slot}" if slot else "a visit"
            return f"Just to check: should I book {what}? You can say yes or no."


def chunk_words(text: str, size: int = WORDS_PER_TOKEN) -> list[str]:
    """Split into pieces of `size` words, each but the first keeping its leading space."""
    words = text.split()
    pieces = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


class LocalAgent:
    """`Agent` from templates; no network, never fails."""

    name = "local"

    def __init__(self, *, words_per_token: int = WORDS_PER_TOKEN) -> None:
        self._words_per_token = words_per_token

    async def reply(self, turn: AgentTurn) -> AsyncIterator[AgentDelta]:
        text = compose_reply(turn)
        pieces = chunk_words(text, self._words_per_token)
        for i, piece in enumerate(pieces):
            if i:
                await asyncio.sleep(0)  # let an interrupt in between pieces
            yield AgentDelta(text=piece)
        yield AgentDelta(
            usage=TurnUsage(
                source=self.name,
                input_tokens=estimate_tokens(turn.caller_text),
                output_tokens=estimate_tokens(text),
            )
        )
