"""run_relay: frames keep being read while a reply streams, so an interrupt or a key press
stops it at once, even while the agent is still thinking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from leadwire.telephony.agent import (
    AgentDelta,
    CallContext,
    Ended,
    EndReason,
    OptOut,
    Outcome,
    RelaySession,
    run_relay,
)
from leadwire.telephony.agent.base import AgentTurn, TurnGoal

from .conftest import SETUP, EventLog, FakeClock, dtmf, interrupt, prompt


class GatedAgent:
    """Says the first half of each reply at once; the rest only when `release` is set."""

    name = "gated"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.closed = asyncio.Event()
        self.closed_early = 0

    async def reply(self, turn: AgentTurn) -> AsyncIterator[AgentDelta]:
        yield AgentDelta(text="Part one of the reply ")
        if turn.goal is not TurnGoal.OPEN:
            finished = False
            try:
                await self.release.wait()
                finished = True
            finally:
                if not finished:
                    self.closed_early += 1
                    self.closed.set()
        yield AgentDelta(text="and part two.")


class Line:
    """Both ends of a fake WebSocket."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any] | str | None] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self._changed = asyncio.Event()

    async def receive(self) -> dict[str, Any] | str | None:
        return await self.incoming.get()

    async def send(self, frame: dict[str, Any]) -> None:
        self.sent.append(frame)
        self._changed.set()

    async def wait_for(self, check: Callable[[list[dict[str, Any]]], bool]) -> None:
        async with asyncio.timeout(2):
            while not check(self.sent):
                self._changed.clear()
                await self._changed.wait()


def texts(frames: list[dict[str, Any]]) -> list[str]:
    return [f["token"] for f in frames if f["type"] == "text"]


@pytest.fixture
def line() -> Line:
    return Line()


async def test_interrupt_and_dtmf_are_seen_while_a_reply_streams(
    context: CallContext, clock: FakeClock, line: Line
) -> None:
    agent = GatedAgent()
    log = EventLog(line.sent)
    session = RelaySession(context=context, agent=agent, clock=clock, on_event=log)
    relay = asyncio.create_task(run_relay(session, receive=line.receive, send=line.send))

    await line.incoming.put(SETUP)
    await line.wait_for(lambda sent: any(f.get("last") for f in sent))
    await line.incoming.put(prompt("today"))
    await line.wait_for(lambda sent: texts(sent)[-1] == "Part one of the")
    before = len(line.sent)

    await line.incoming.put(interrupt("Part one of", 300))
    # The agent's stream is closed while it is still waiting for the model.
    await asyncio.wait_for(agent.closed.wait(), timeout=2)
    agent.release.set()
    await asyncio.sleep(0.01)
    assert line.sent[before:] == []  # nothing more of the interrupted reply
    assert session.record.transcript[-1].text == "Part one of"

    await line.incoming.put(dtmf("9"))
    await asyncio.wait_for(relay, timeout=2)
    assert line.sent[-1]["type"] == "end"
    assert "part two" not in "".join(texts(line.sent[before:]))
    assert isinstance(log.events[0], OptOut)
    assert log.end_sent_before == [False, False]


async def test_a_key_press_ends_a_reply_stuck_on_the_agent(
    context: CallContext, clock: FakeClock, line: Line
) -> None:
    agent = GatedAgent()  # never released: the model "hangs"
    session = RelaySession(context=context, agent=agent, clock=clock)
    relay = asyncio.create_task(run_relay(session, receive=line.receive, send=line.send))
    await line.incoming.put(json.dumps(SETUP))  # text frames are decoded
    await line.wait_for(lambda sent: any(f.get("last") for f in sent))
    await line.incoming.put(prompt("today"))
    await line.wait_for(lambda sent: texts(sent)[-1] == "Part one of the")
    await line.incoming.put(dtmf("9"))
    await asyncio.wait_for(relay, timeout=2)
    assert session.outcome is Outcome.OPTED_OUT
    assert agent.closed_early == 1


async def test_a_closed_socket_still_reports_the_end(
    context: CallContext, clock: FakeClock, line: Line
) -> None:
    log = EventLog()
    session = RelaySession(context=context, agent=GatedAgent(), clock=clock, on_event=log)
    relay = asyncio.create_task(run_relay(session, receive=line.receive, send=line.send))
    await line.incoming.put(SETUP)
    await line.incoming.put(None)
    await asyncio.wait_for(relay, timeout=2)
    assert log.events == [Ended(outcome=Outcome.ENDED, reason=EndReason.HANGUP)]


async def test_a_failing_event_hook_surfaces_from_the_relay(
    context: CallContext, clock: FakeClock, line: Line
) -> None:
    async def broken(event: object) -> None:
        raise RuntimeError("database down")

    session = RelaySession(context=context, agent=GatedAgent(), clock=clock, on_event=broken)
    await line.incoming.put(SETUP)
    await line.incoming.put(prompt("stop calling me"))
    with pytest.raises(ExceptionGroup) as caught:
        await asyncio.wait_for(run_relay(session, receive=line.receive, send=line.send), 2)
    assert caught.group_contains(RuntimeError, match="database down")
    assert all(f["type"] != "end" for f in line.sent)
