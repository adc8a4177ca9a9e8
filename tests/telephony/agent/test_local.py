"""The local agent: a whole qualification turn by turn, grounded in the lead, streamed."""

from __future__ import annotations

import asyncio

import pytest

from leadwire.telephony.agent import AgentDelta, CallContext, LocalAgent
from leadwire.telephony.agent.base import AgentTurn, TurnGoal
from leadwire.telephony.agent.local import chunk_words, compose_reply
from leadwire.telephony.agent.qualification import build_plan


def turn(context: CallContext, goal: TurnGoal, **overrides: object) -> AgentTurn:
    plan = {item.key: item for item in build_plan(context)}
    fields: dict[str, object] = {
        "context": context,
        "goal": goal,
        "history": (),
        "caller_text": "",
        "qualification": {"need": "AC not cooling at all"},
        "learned": (),
        "next_item": plan["urgency"],
    }
    fields.update(overrides)
    return AgentTurn(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("goal", "overrides", "expected"),
    [
        (
            TurnGoal.OPEN,
            {},
            'You wrote: "AC not cooling at all." How soon do you need someone: today, this '
            "week, or is there no rush?",
        ),
        (
            TurnGoal.ASK,
            {"learned": ("urgency",), "qualification": {"urgency": "emergency"}},
            "That sounds urgent, I'm sorry you're dealing with that. How soon do you need "
            "someone: today, this week, or is there no rush?",
        ),
        (
            TurnGoal.REASK,
            {},
            "Sorry, I didn't quite catch that. How soon do you need someone: today, this week, "
            "or is there no rush?",
        ),
        (
            TurnGoal.OFFER,
            {"next_item": None, "qualification": {"best_time": "tomorrow morning"}},
            "Thank you, Sarah. I can request a visit for tomorrow morning. Would you like me to "
            "book that? Or I can connect you with someone from Acme HVAC now; just say so or "
            "press 0.",
        ),
        (
            TurnGoal.REOFFER,
            {"next_item": None, "qualification": {"best_time": "Friday"}},
            "Just to check: should I book the visit for Friday? You can say yes or no.",
        ),
    ],
)
def test_replies_per_goal(
    context: CallContext, goal: TurnGoal, overrides: dict[str, object], expected: str
) -> None:
    assert compose_reply(turn(context, goal, **overrides)) == expected


def test_the_address_question_cites_the_leads_zip(context: CallContext) -> None:
    address = {item.key: item for item in build_plan(context)}["address"]
    reply = compose_reply(turn(context, TurnGoal.ASK, next_item=address, learned=("urgency",)))
    assert "7 8 7 0 1" in reply


async def test_the_reply_streams_in_several_tokens_with_usage_last(context: CallContext) -> None:
    t = turn(context, TurnGoal.OPEN)
    deltas: list[AgentDelta] = [d async for d in LocalAgent().reply(t)]
    texts = [d.text for d in deltas if d.text]
    assert len(texts) > 3
    assert "".join(texts) == compose_reply(t)
    assert deltas[-1].usage is not None
    assert deltas[-1].usage.source == "local"
    assert deltas[-1].usage.output_tokens > 0
    assert deltas[-1].usage.cost_usd == 0


async def test_the_first_token_needs_no_io(context: CallContext) -> None:
    stream = LocalAgent().reply(turn(context, TurnGoal.OPEN))
    first = await asyncio.wait_for(anext(stream), timeout=0.05)  # type: ignore[arg-type]
    assert first.text
    await stream.aclose()  # type: ignore[attr-defined]


def test_chunk_words_keeps_spacing() -> None:
    pieces = chunk_words("one two three four five six", 4)
    assert pieces == ["one two three four", " five six"]
    assert "".join(pieces) == "one two three four five six"
