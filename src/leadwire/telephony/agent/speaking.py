"""Turning a reply into ConversationRelay ``text`` frames, and stopping it the moment it must.

Three mechanisms live here so the session can stay about the conversation:

* `Voice`: one reply speaks at a time, the newest; starting one stops the one before, and an
  ``interrupt`` stops the one the caller heard last and cuts its transcript entry to what was
  actually spoken.

* `frames`: pieces of text become ``text`` frames. The last word is always held back, so the
  reply can end with a frame that carries real text and ``last=true`` (whether Twilio accepts
  an empty closing token is unverified). Before every frame it asks whether the reply may
  still speak.
* `agent_pieces`: an agent's deltas, each awaited in a race with the reply's `stopped` event,
  so an interrupt stops a reply even while the model is still thinking; the agent's stream is
  then closed. An agent that raises or says nothing is replaced by the floor for that turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from leadwire.telephony.agent.base import Agent, AgentDelta, AgentTurn, TurnUsage
from leadwire.telephony.agent.protocol import TextMessage, to_wire
from leadwire.telephony.agent.record import CallRecord

logger = logging.getLogger(__name__)

Piece = tuple[str, bool | None]  # text, and its `interruptible` flag (None: Twilio's default)
_LAST_WORD = re.compile(r"\s+\S+\s*$")


class Reply:
    """One reply being spoken; `stopped` is set when it must not say another word."""

    __slots__ = ("index", "interrupted", "opening", "sent", "source", "stopped")

    def __init__(self, index: int, *, source: str, opening: bool) -> None:
        self.index = index  # its entry in the transcript
        self.source = source
        self.opening = opening
        self.sent: list[str] = []
        self.stopped = asyncio.Event()
        self.interrupted = False


class Voice:
    """Owns which reply may speak, and speaks it into `record`'s transcript."""

    def __init__(
        self,
        *,
        record: CallRecord,
        clock: Callable[[], datetime],
        agent: Agent,
        floor: Agent,
    ) -> None:
        self._record = record
        self._clock = clock
        self._agent = agent
        self._floor = floor
        self._current: Reply | None = None
        self._last: Reply | None = None

    def begin(self, *, source: str, opening: bool = False, allowed: bool = True) -> Reply:
        """A new reply, now the only one allowed to speak (a disallowed one never speaks)."""
        self.stop_current()
        index = self._record.add(at=self._clock(), speaker="agent", text="", source=source)
        reply = Reply(index, source=source, opening=opening)
        if not allowed:
            reply.stopped.set()
            return reply
        self._current = self._last = reply
        return reply

    def stop_current(self) -> None:
        if self._current is not None:
            self._current.stopped.set()
            self._current = None

    def may_speak(self, reply: Reply) -> bool:
        return reply is self._current and not reply.stopped.is_set()

    def interrupted(self, *, heard: str, after_ms: int | None) -> Reply | None:
        """The caller cut off the reply they were hearing: stop it, keep only what was heard."""
        reply = self._last
        if reply is None:
            return None
        reply.stopped.set()
        reply.interrupted = True
        if reply is self._current:
            self._current = None
        self._record.settle(
            reply.index, text=heard, interrupted=True, interrupted_after_ms=after_ms
        )
        return reply

    async def speak(
        self,
        reply: Reply,
        *,
        fixed: Sequence[Piece],
        turn: AgentTurn | None,
    ) -> AsyncIterator[dict[str, Any]]:
        """The `fixed` lines, then the agent's reply for `turn`, as ``text`` frames."""
        try:
            async with contextlib.aclosing(self._pieces(reply, fixed, turn)) as pieces:
                async for frame in frames(reply, pieces, may_speak=lambda: self.may_speak(reply)):
                    yield frame
        finally:
            if reply.interrupted:  # the entry already holds what the caller heard
                self._record.settle(reply.index, source=reply.source)
            else:
                text = "".join(reply.sent).strip()
                self._record.settle(reply.index, text=text, source=reply.source)
            if reply is self._current:
                self._current = None

    async def _pieces(
        self, reply: Reply, fixed: Sequence[Piece], turn: AgentTurn | None
    ) -> AsyncGenerator[Piece, None]:
        for i, (line, flag) in enumerate(fixed):
            more = i < len(fixed) - 1 or turn is not None
            yield (line + " " if more else line), flag
        if turn is None:
            return

        def account(usage: TurnUsage) -> None:
            self._record.account(usage)
            reply.source = usage.source

        deltas = agent_pieces(
            agent=self._agent, floor=self._floor, turn=turn, reply=reply, on_usage=account
        )
        async with contextlib.aclosing(deltas) as pieces:
            async for piece in pieces:
                yield piece


def split_last_word(text: str) -> tuple[str, str]:
    """(what can go now, the last word to hold back)."""
    match = _LAST_WORD.search(text)
    if match is None or match.start() == 0:
        return "", text
    return text[: match.start()], text[match.start() :]


def _frame(reply: Reply, token: str, *, last: bool, interruptible: bool | None) -> dict[str, Any]:
    reply.sent.append(token)
    return to_wire(TextMessage(token=token, last=last, interruptible=interruptible))


async def frames(
    reply: Reply, pieces: AsyncIterator[Piece], *, may_speak: Callable[[], bool]
) -> AsyncIterator[dict[str, Any]]:
    """``text`` frames for `pieces`; stops before the first frame `may_speak` refuses."""
    held, held_flag = "", None
    async for text, flag in pieces:
        if held and flag != held_flag:
            if not may_speak():
                return
            yield _frame(reply, held, last=False, interruptible=held_flag)
            held = ""
        ready, held = split_last_word(held + text)
        held_flag = flag
        if ready:
            if not may_speak():
                return
            yield _frame(reply, ready, last=False, interruptible=flag)
    if held and may_speak():
        yield _frame(reply, held, last=True, interruptible=held_flag)


async def agent_pieces(
    *,
    agent: Agent,
    floor: Agent,
    turn: AgentTurn,
    reply: Reply,
    on_usage: Callable[[TurnUsage], None],
) -> AsyncGenerator[Piece, None]:
    """The agent's reply for `turn` as pieces, until it ends or `reply` is stopped."""
    spoke = False
    stream = agent.reply(turn)
    try:
        while True:
            try:
                delta = await next_delta(stream, reply)
            except Exception:
                logger.exception("agent failed mid-turn", extra={"agent": agent.name})
                await aclose(stream)
                if spoke or reply.stopped.is_set():
                    return
                # An agent must not raise; if one does, the floor answers this turn.
                spoke, stream = True, floor.reply(turn)
                continue
            if delta is None:
                break
            if delta.usage is not None:
                on_usage(delta.usage)
            if delta.text:
                spoke = True
                yield delta.text, None
    finally:
        await aclose(stream)
    if not spoke and not reply.stopped.is_set():
        # A reply must end with words; an agent that produced none is replaced.
        async for delta in floor.reply(turn):
            if delta.usage is not None:
                on_usage(delta.usage)
            if delta.text:
                yield delta.text, None


async def next_delta(stream: AsyncIterator[AgentDelta], reply: Reply) -> AgentDelta | None:
    """The agent's next delta, or None when it is done or the reply was stopped meanwhile."""
    if reply.stopped.is_set():
        return None
    step: asyncio.Future[AgentDelta] = asyncio.ensure_future(anext(stream))
    stop = asyncio.ensure_future(reply.stopped.wait())
    try:
        await asyncio.wait((step, stop), return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not step.done():
            step.cancel()
            await asyncio.wait((step,))
    if step.cancelled():
        return None
    error = step.exception()
    if isinstance(error, StopAsyncIteration):
        return None
    if error is not None:
        raise error
    return None if reply.stopped.is_set() else step.result()


async def aclose(stream: AsyncIterator[Any]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
