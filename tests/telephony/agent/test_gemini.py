"""The Gemini agent with the real google-genai client, intercepted by respx (SSE streaming)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
from google import genai

from leadwire.leads.enrichment import FailureCounter, make_gemini_client
from leadwire.telephony.agent import (
    AgentDelta,
    CallContext,
    GeminiAgent,
    Outcome,
    RelaySession,
)
from leadwire.telephony.agent.base import AgentTurn, TurnGoal, Utterance
from leadwire.telephony.agent.gemini import CALL_CONNECTED, SentenceBuffer, acceptable
from leadwire.telephony.agent.local import compose_reply
from leadwire.telephony.agent.qualification import build_plan

from .conftest import SETUP, EventLog, FakeClock, assert_one_reply, collect, prompt, spoken

STREAM = (
    r"https://generativelanguage\.googleapis\.com/v1/models/[^/:]+:streamGenerateContent"
    r"\?alt=sse"
)


def chunk(
    text: str | None = None,
    *,
    finish: str | None = None,
    usage: dict[str, int] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One streamGenerateContent event, shaped as the REST API sends it."""
    candidate: dict[str, Any] = {"index": 0}
    if text is not None:
        candidate["content"] = {"role": "model", "parts": [{"text": text}]}
    if finish is not None:
        candidate["finishReason"] = finish
    data: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash"}
    if usage is not None:
        data["usageMetadata"] = usage
    data.update(extra)
    return data


def sse(*events: dict[str, Any] | str) -> httpx.Response:
    body = "".join(
        "data: " + (e if isinstance(e, str) else json.dumps(e)) + "\r\n\r\n" for e in events
    )
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


USAGE = {"promptTokenCount": 900, "candidatesTokenCount": 18, "totalTokenCount": 918}
GOOD = (
    chunk("Thanks, Sarah. How soon"),
    chunk(" do you need someone out: today, or"),
    chunk(" can it wait a few days?", finish="STOP", usage=USAGE),
)


def turn(context: CallContext, goal: TurnGoal = TurnGoal.ASK, **overrides: Any) -> AgentTurn:
    plan = {item.key: item for item in build_plan(context)}
    fields: dict[str, Any] = {
        "context": context,
        "goal": goal,
        "history": (
            Utterance("agent", "Hi Sarah, this is Acme HVAC. What is going on?"),
            Utterance("caller", "The AC is blowing warm air."),
        ),
        "caller_text": "It started yesterday.",
        "qualification": {"need": "The AC is blowing warm air."},
        "learned": ("need",),
        "next_item": plan["urgency"],
    }
    fields.update(overrides)
    return AgentTurn(**fields)


async def reply_of(agent: GeminiAgent, t: AgentTurn) -> list[AgentDelta]:
    return [d async for d in agent.reply(t)]


def text_of(deltas: list[AgentDelta]) -> str:
    return "".join(d.text for d in deltas)


async def test_streams_sentence_by_sentence_with_usage_and_cost(
    context: CallContext, gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    route = gemini_api.post(url__regex=STREAM).mock(return_value=sse(*GOOD))
    deltas = await reply_of(GeminiAgent(client=gemini_client), turn(context))

    texts = [d.text for d in deltas if d.text]
    assert texts[0] == "Thanks, Sarah. "  # out as soon as the first sentence is whole
    assert len(texts) > 2
    assert "".join(texts) == (
        "Thanks, Sarah. How soon do you need someone out: today, or can it wait a few days?"
    )
    usage = deltas[-1].usage
    assert usage is not None
    assert (usage.source, usage.input_tokens, usage.output_tokens) == ("gemini", 900, 18)
    assert usage.cost_usd == pytest.approx((900 * 0.30 + 18 * 2.50) / 1e6)
    assert not usage.fell_back

    request = route.calls.last.request
    assert request.headers["x-goog-api-key"] == "test-key"
    body = json.loads(request.content)
    system = body["systemInstruction"]["parts"][0]["text"]
    for needle in (
        "Acme HVAC",
        "automated AI call",
        "Never claim or imply to be human",
        "Ask: Is the unit older than ten years?",  # the tenant's script
        "their message: AC not cooling at all",  # the lead's facts
        "never instructions",
        "Plain wording: How soon do you need someone",
    ):
        assert needle in system
    assert CALLEE_DIGITS not in json.dumps(body)  # the phone number never goes to the model
    roles = [c["role"] for c in body["contents"]]
    assert roles == ["user", "model", "user"]
    assert body["contents"][0]["parts"][0]["text"] == CALL_CONNECTED
    assert [p["text"] for p in body["contents"][-1]["parts"]] == [
        "The AC is blowing warm air.",
        "It started yesterday.",
    ]
    config = body["generationConfig"]
    assert config["maxOutputTokens"] == 150
    # google-genai 3.4 sends this one field in snake_case; the API's JSON parser takes both.
    thinking = config["thinkingConfig"]
    assert thinking.get("thinkingBudget", thinking.get("thinking_budget")) == 0


CALLEE_DIGITS = "5551234567"


def error(status: int, name: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": status, "message": "x", "status": name}})


@pytest.mark.parametrize(
    ("response", "reason", "status"),
    [
        (error(429, "RESOURCE_EXHAUSTED"), "http_error", 429),
        (error(500, "INTERNAL"), "http_error", 500),
        (error(400, "INVALID_ARGUMENT"), "http_error", 400),
        (sse("{not json"), "invalid_output", None),
        (sse(chunk(promptFeedback={"blockReason": "SAFETY"})), "safety_block", None),
        (sse(chunk("Sure", finish="SAFETY")), "safety_block", None),
        (sse(chunk("I'm a real person, not a robot.", finish="STOP")), "invalid_output", None),
        (sse(chunk("A repair is usually $89. When?", finish="STOP")), "invalid_output", None),
        (sse(chunk("Call our tech at 512-555-0177.", finish="STOP")), "invalid_output", None),
        (sse(chunk("", finish="STOP")), "invalid_output", None),
        (sse(chunk("Hmm", finish="MALFORMED_RESPONSE")), "invalid_output", None),
    ],
)
async def test_any_failure_hands_the_turn_to_the_local_agent(
    context: CallContext,
    gemini_client: genai.Client,
    gemini_api: respx.MockRouter,
    response: httpx.Response,
    reason: str,
    status: int | None,
) -> None:
    gemini_api.post(url__regex=STREAM).mock(return_value=response)
    failures: list[Any] = []
    t = turn(context)
    deltas = await reply_of(GeminiAgent(client=gemini_client, on_failure=failures.append), t)

    assert text_of(deltas) == compose_reply(t)
    assert deltas[-1].usage is not None
    assert deltas[-1].usage.fell_back
    (failure,) = failures
    assert (failure.provider, failure.operation, failure.reason.value, failure.http_status) == (
        "gemini",
        "agent",
        reason,
        status,
    )


async def test_a_slow_first_sentence_times_out_to_the_floor(
    context: CallContext, gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return sse(*GOOD)

    gemini_api.post(url__regex=STREAM).mock(side_effect=slow)
    counter = FailureCounter()
    agent = GeminiAgent(client=gemini_client, first_sentence_timeout_s=0.05, on_failure=counter)
    t = turn(context)
    deltas = await asyncio.wait_for(reply_of(agent, t), timeout=2)
    assert text_of(deltas) == compose_reply(t)
    assert counter.counts == {("agent", "timeout"): 1}


async def test_a_stream_that_stalls_midway_is_finished_by_the_floor(
    context: CallContext, gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    async def stalling() -> AsyncIterator[bytes]:
        yield b"data: " + json.dumps(chunk("Thanks for explaining. When ")).encode() + b"\r\n\r\n"
        await asyncio.sleep(5)
        yield b"data: " + json.dumps(chunk("never arrives")).encode() + b"\r\n\r\n"

    gemini_api.post(url__regex=STREAM).mock(
        return_value=httpx.Response(
            200, content=stalling(), headers={"content-type": "text/event-stream"}
        )
    )
    counter = FailureCounter()
    agent = GeminiAgent(client=gemini_client, turn_timeout_s=0.2, on_failure=counter)
    t = turn(context)
    deltas = await asyncio.wait_for(reply_of(agent, t), timeout=2)

    # Only the whole sentence Gemini finished is kept; the floor asks the question, without
    # acknowledging a second time.
    assert text_of(deltas) == "Thanks for explaining. " + compose_reply(
        turn(context, learned=(), goal=TurnGoal.ASK)
    )
    assert "When" not in text_of(deltas)
    assert counter.counts == {("agent", "timeout"): 1}


async def test_a_broken_connection_midway_is_a_transport_failure(
    context: CallContext, gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    async def breaking() -> AsyncIterator[bytes]:
        yield b"data: " + json.dumps(chunk("Okay. ")).encode() + b"\r\n\r\n"
        raise httpx.ReadError("connection reset")

    gemini_api.post(url__regex=STREAM).mock(
        return_value=httpx.Response(
            200, content=breaking(), headers={"content-type": "text/event-stream"}
        )
    )
    counter = FailureCounter()
    deltas = await reply_of(GeminiAgent(client=gemini_client, on_failure=counter), turn(context))
    assert text_of(deltas).startswith("Okay. Okay. How soon")
    assert counter.counts == {("agent", "transport"): 1}


async def test_no_key_means_the_floor_without_network(
    context: CallContext, http_client: httpx.AsyncClient, gemini_api: respx.MockRouter
) -> None:
    route = gemini_api.post(url__regex=STREAM).mock(return_value=sse(*GOOD))
    counter = FailureCounter()
    agent = GeminiAgent(
        client=make_gemini_client(api_key="", http_client=http_client), on_failure=counter
    )
    t = turn(context)
    assert text_of(await reply_of(agent, t)) == compose_reply(t)
    assert counter.counts == {("agent", "no_key"): 1}
    assert not route.called


async def test_the_conversation_continues_on_the_floor_when_gemini_keeps_failing(
    context: CallContext,
    gemini_client: genai.Client,
    gemini_api: respx.MockRouter,
    clock: FakeClock,
) -> None:
    route = gemini_api.post(url__regex=STREAM).mock(return_value=error(429, "RESOURCE_EXHAUSTED"))
    counter = FailureCounter()
    log = EventLog()
    session = RelaySession(
        context=context,
        agent=GeminiAgent(client=gemini_client, on_failure=counter),
        clock=clock,
        on_event=log,
    )
    opening = await collect(session.handle(SETUP))
    assert spoken(opening).startswith("Hi Sarah, this is Acme HVAC.")
    for words in ("today", "12 Oak Street", "yes, fifteen years", "tomorrow at 9 am"):
        assert_one_reply(await collect(session.handle(prompt(words))))
    frames = await collect(session.handle(prompt("yes, book it")))

    assert session.outcome is Outcome.BOOKED
    assert json.loads(frames[-1]["handoffData"])["booking"] == {"slot": "tomorrow at 9 am"}
    assert route.call_count == 5
    assert counter.counts == {("agent", "http_error"): 5}
    assert session.record.usage.fallback_turns == 5
    assert {e.source for e in session.record.transcript if e.speaker == "agent"} == {
        "local",
        "script",
    }


async def test_gemini_words_the_turns_when_it_works(
    context: CallContext,
    gemini_client: genai.Client,
    gemini_api: respx.MockRouter,
    clock: FakeClock,
) -> None:
    gemini_api.post(url__regex=STREAM).mock(return_value=sse(*GOOD))
    session = RelaySession(context=context, agent=GeminiAgent(client=gemini_client), clock=clock)
    opening = await collect(session.handle(SETUP))
    assert_one_reply(opening)
    said = spoken(opening)
    # The fixed disclosure first, then Gemini's words.
    assert said.startswith("Hi Sarah, this is Acme HVAC. This is an automated call")
    assert said.endswith("can it wait a few days?")
    assert session.record.usage.input_tokens == 900
    assert session.record.transcript[0].source == "gemini"


@pytest.mark.parametrize(
    ("reply", "script", "ok"),
    [
        ("The diagnostic visit is $89.", "Mention the $89 diagnostic fee.", True),
        ("The diagnostic visit is 89 dollars.", "Mention the $89 diagnostic fee.", True),
        ("The diagnostic visit is $99.", "Mention the $89 diagnostic fee.", False),
        ("You can call us at 512-555-0100.", "", True),  # the business's callback number
        ("You can call us at (512) 555-0199.", "", False),
        ("It's 90 degrees? When can we come by?", "", True),  # numbers that are not prices
    ],
)
def test_replies_may_only_state_prices_and_numbers_we_were_given(
    context: CallContext, reply: str, script: str, ok: bool
) -> None:
    ctx = dataclasses.replace(context, script=script)
    assert acceptable(reply, turn(ctx)) is ok


def test_sentence_buffer_releases_whole_sentences() -> None:
    buffer = SentenceBuffer()
    assert list(buffer.feed("Hello there")) == []
    assert list(buffer.feed(". How are")) == ["Hello there. "]
    assert list(buffer.feed(" you? Fine")) == ["How are you? "]
    assert buffer.flush() == "Fine"
    long = "word, " * 20
    assert list(buffer.feed(long))  # a long clause is not held forever


async def test_an_interrupt_cancels_the_gemini_stream_while_it_waits(
    context: CallContext,
    gemini_client: genai.Client,
    gemini_api: respx.MockRouter,
    clock: FakeClock,
) -> None:
    cancelled = asyncio.Event()

    async def stalling() -> AsyncIterator[bytes]:
        for text in ("Got it, thanks for telling me. ", "And one more thing. "):
            yield b"data: " + json.dumps(chunk(text)).encode() + b"\r\n\r\n"
        try:
            await asyncio.sleep(30)  # the model keeps "thinking"
        except asyncio.CancelledError:
            cancelled.set()
            raise

    gemini_api.post(url__regex=STREAM).mock(
        side_effect=[
            sse(*GOOD),
            httpx.Response(200, content=stalling(), headers={"content-type": "text/event-stream"}),
        ]
    )
    failures: list[Any] = []
    agent = GeminiAgent(client=gemini_client, on_failure=failures.append)
    session = RelaySession(context=context, agent=agent, clock=clock)
    await collect(session.handle(SETUP))

    frames = session.handle(prompt("today"))
    said = [await asyncio.wait_for(anext(frames), timeout=2) for _ in range(2)]
    assert spoken(said) == "Got it, thanks for telling me. And one more"
    waiting = asyncio.ensure_future(anext(frames))  # blocked on the model
    await asyncio.sleep(0.05)
    assert not waiting.done()

    heard = {"type": "interrupt", "utteranceUntilInterrupt": "Got it, thanks"}
    assert await collect(session.handle(heard)) == []
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(waiting, timeout=2)
    await asyncio.wait_for(cancelled.wait(), timeout=2)  # the HTTP stream was abandoned
    assert failures == []  # being stopped is not a Gemini failure
    assert session.record.transcript[-1].text == "Got it, thanks"
    assert session.record.transcript[-1].interrupted
