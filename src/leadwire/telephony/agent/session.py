"""`RelaySession`: one call's conversation engine, independent of any transport.

The route feeds every ConversationRelay message to `handle` and sends whatever it yields.
Replies stream while later messages keep arriving, so `handle` may run for several messages at
once (see `runner.run_relay`): only the newest reply may speak, and an ``interrupt``, a new
prompt, or the end of the session stops the one in flight before its next token, even while
it waits for the model.

Order of decisions for the caller's words: opt-out (or "wrong number") first, always, even
past a limit; then voicemail on the first words; then the call-length and token caps; then
transfer, not interested, goodbye, booking, the answer to the booking offer, and only then
qualification. Opt-out, transfer and goodbyes are fixed lines (`phrases`), never a model's.

Effects leave as `SessionEvent`s through the awaited `on_event` hook, each before the ``end``
message that closes the session, so the route persists an opt-out before Twilio hangs up. If
the hook raises, the exception propagates out of `handle` and no ``end`` is yielded; the
session is already over, and `end_message` still gives the frame to close with once the route
has dealt with the failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from leadwire.leads.enrichment.text import normalize
from leadwire.telephony.agent import phrases
from leadwire.telephony.agent.base import (
    Agent,
    AgentDelta,
    AgentTurn,
    CallContext,
    PlanItem,
    TurnGoal,
    TurnUsage,
    Utterance,
)
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
from leadwire.telephony.agent.intents import CallerIntent, detect_intents
from leadwire.telephony.agent.local import LocalAgent
from leadwire.telephony.agent.protocol import (
    DtmfMessage,
    EndMessage,
    ErrorMessage,
    InfoMessage,
    InterruptMessage,
    PromptMessage,
    SetupMessage,
    TextMessage,
    UnparsedMessage,
    parse_incoming,
    to_wire,
)
from leadwire.telephony.agent.qualification import (
    BEST_TIME,
    Qualification,
    build_plan,
    read_answers,
    time_phrase,
)

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
EventHook = Callable[[SessionEvent], Awaitable[None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """Hard caps for one call. Reaching one ends the call politely at the caller's next turn;
    the route should also end the session (`RelaySession.close`) when `deadline` passes while
    the caller is silent."""

    max_call_seconds: float = 600.0
    max_tokens: int = 20_000  # all agents' input and output tokens together
    max_turn_output_tokens: int = 150
    min_turn_tokens: int = 40  # fewer tokens left than this: wrap up instead of another turn
    max_reasks: int = 2  # after this many unclear answers to one item, move on


_OPT_OUT_INTENTS = frozenset({CallerIntent.OPT_OUT, CallerIntent.WRONG_PARTY})
_NOT_ANSWERS = frozenset({CallerIntent.ASKS_IF_AI, CallerIntent.REPEAT})
_LAST_WORD = re.compile(r"\s+\S+\s*$")


class _Reply:
    """One reply being spoken; `stopped` is set when it must not say another word."""

    __slots__ = ("index", "interrupted", "opening", "sent", "source", "stopped")

    def __init__(self, index: int, *, source: str, opening: bool) -> None:
        self.index = index
        self.source = source
        self.opening = opening
        self.sent: list[str] = []
        self.stopped = asyncio.Event()
        self.interrupted = False


def _split_last_word(text: str) -> tuple[str, str]:
    """(what can go now, the last word to hold back so the reply can end with last=true)."""
    match = _LAST_WORD.search(text)
    if match is None or match.start() == 0:
        return "", text
    return text[: match.start()], text[match.start() :]


class RelaySession:
    """The per-call conversation engine (see the module docstring)."""

    def __init__(
        self,
        *,
        context: CallContext,
        agent: Agent,
        clock: Clock = utc_now,
        limits: SessionLimits | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        self._context = context
        self._agent = agent
        self._floor = LocalAgent()
        self._clock = clock
        self._limits = limits or SessionLimits()
        self._on_event = on_event

        self._plan = build_plan(context)
        self._qualification = Qualification.from_lead(self._plan, context.lead)
        self._awaiting: PlanItem | None = None
        self._offered = False
        self._wants_booking = False
        self._reasks: Counter[str] = Counter()
        self._remind_disclosure = False

        self._setup: SetupMessage | None = None
        self._started_at: datetime | None = None
        self._transcript: list[TranscriptEntry] = []
        self._usage = UsageTotals()
        self._events: list[SessionEvent] = []
        self._problems: list[str] = []
        self._current: _Reply | None = None
        self._last: _Reply | None = None
        self._caller_turns = 0

        self._outcome: Outcome | None = None
        self._end_reason: EndReason | None = None
        self._end_message: dict[str, Any] | None = None

    # --- what the route reads ----------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self._outcome is not None

    @property
    def outcome(self) -> Outcome | None:
        return self._outcome

    @property
    def end_reason(self) -> EndReason | None:
        return self._end_reason

    @property
    def end_message(self) -> dict[str, Any] | None:
        """The ``end`` frame (with handoffData) once the session is over."""
        return self._end_message

    @property
    def events(self) -> tuple[SessionEvent, ...]:
        return tuple(self._events)

    @property
    def transcript(self) -> tuple[TranscriptEntry, ...]:
        return tuple(self._transcript)

    @property
    def usage(self) -> UsageTotals:
        return self._usage

    @property
    def qualification(self) -> dict[str, Any]:
        return self._qualification.as_dict()

    @property
    def setup(self) -> SetupMessage | None:
        return self._setup

    @property
    def started_at(self) -> datetime | None:
        return self._started_at

    @property
    def deadline(self) -> datetime | None:
        """When the call-length cap runs out (None before the session starts)."""
        if self._started_at is None:
            return None
        return self._started_at + timedelta(seconds=self._limits.max_call_seconds)

    @property
    def problems(self) -> tuple[str, ...]:
        """Frames that could not be read and `error` messages from Twilio, in order."""
        return tuple(self._problems)

    # --- input -------------------------------------------------------------------------------

    async def handle(
        self, message: Mapping[str, Any] | str | bytes
    ) -> AsyncIterator[dict[str, Any]]:
        """Outgoing frames for one incoming frame (possibly none)."""
        parsed = parse_incoming(message)
        if isinstance(parsed, UnparsedMessage):
            self._problems.append(f"{parsed.type or 'unknown'}: {parsed.problem}")
            return
        if isinstance(parsed, ErrorMessage):
            self._problems.append(f"error: {parsed.description}")
            return
        if isinstance(parsed, InfoMessage) or self.ended:
            return
        if isinstance(parsed, InterruptMessage):
            self._interrupted(parsed)
            return
        if isinstance(parsed, SetupMessage):
            if self._started_at is None:
                self._setup = parsed
                async for out in self._open():
                    yield out
            return
        if self._started_at is None:
            # Twilio sends setup first; if it did not, still never speak before disclosing.
            async for out in self._open():
                yield out
        if isinstance(parsed, PromptMessage):
            if parsed.last and parsed.voice_prompt.strip():
                async for out in self._on_prompt(parsed.voice_prompt.strip()):
                    yield out
        elif isinstance(parsed, DtmfMessage):
            async for out in self._on_dtmf(parsed.digit):
                yield out

    async def close(self, *, reason: EndReason) -> AsyncIterator[dict[str, Any]]:
        """End the session from outside: the call-length timer, or the caller hung up.

        With ``HANGUP`` nothing is yielded (the socket is gone) but `Ended` is still reported.
        """
        if self.ended:
            return
        outcome = Outcome.QUALIFIED if self._qualification.complete else Outcome.ENDED
        if reason is EndReason.HANGUP:
            self._finish(outcome, reason)
            await self._emit(Ended(outcome=outcome, reason=reason))
            return
        line = (
            phrases.limit_close(self._context)
            if reason in (EndReason.TIME_LIMIT, EndReason.TOKEN_LIMIT)
            else phrases.caller_end_close(self._context)
        )
        async for out in self._close(outcome=outcome, reason=reason, line=line):
            yield out

    # --- the conversation --------------------------------------------------------------------

    async def _open(self) -> AsyncIterator[dict[str, Any]]:
        self._started_at = self._now()
        item = self._qualification.next_item()
        self._awaiting = item
        goal = TurnGoal.OPEN if item is not None else TurnGoal.OFFER
        self._offered = item is None
        turn = self._turn(goal, caller_text="", learned=(), next_item=item)
        reply = self._begin_reply(source=self._agent.name, opening=True)
        # The disclosure must be heard whole: speech may not cut it (keys still arrive).
        fixed = [
            (phrases.disclosure(self._context), False),
            (phrases.purpose(self._context), None),
        ]
        async for out in self._speak(reply, fixed=fixed, turn=turn):
            yield out

    async def _on_prompt(self, text: str) -> AsyncIterator[dict[str, Any]]:
        self._record_caller(text, kind="speech")
        self._caller_turns += 1
        intents = detect_intents(text)

        if intents & _OPT_OUT_INTENTS:
            wrong_party = CallerIntent.OPT_OUT not in intents
            async for out in self._opt_out(via="speech", heard=text, wrong_party=wrong_party):
                yield out
            return
        if CallerIntent.VOICEMAIL in intents and self._caller_turns == 1:
            async for out in self._close(
                outcome=Outcome.VOICEMAIL,
                reason=EndReason.VOICEMAIL,
                line=phrases.voicemail_message(self._context),
            ):
                yield out
            return
        if CallerIntent.TRANSFER in intents:
            async for out in self._transfer():
                yield out
            return
        if CallerIntent.NOT_INTERESTED in intents:
            async for out in self._close(
                outcome=Outcome.NOT_INTERESTED,
                reason=EndReason.NOT_INTERESTED,
                line=phrases.not_interested_close(self._context),
            ):
                yield out
            return
        if CallerIntent.END in intents:
            outcome = Outcome.QUALIFIED if self._qualification.complete else Outcome.ENDED
            async for out in self._close(
                outcome=outcome,
                reason=EndReason.CALLER_ENDED,
                line=phrases.caller_end_close(self._context),
            ):
                yield out
            return

        slot_named = time_phrase(text)
        deny = CallerIntent.DENY in intents
        wants_booking = CallerIntent.BOOK in intents or (
            self._offered
            and not deny
            and (CallerIntent.AFFIRM in intents or slot_named is not None)
        )
        if wants_booking:
            self._wants_booking = True
            if slot_named is not None:
                self._qualification.values[BEST_TIME] = slot_named
            slot = self._qualification.values.get(BEST_TIME)
            if slot:
                async for out in self._book(slot):
                    yield out
                return
            # Yes to a visit but no time known yet: go back and ask for one.
            self._offered = False
            self._qualification.skipped.discard(BEST_TIME)
        if self._offered and deny:
            async for out in self._close(
                outcome=Outcome.QUALIFIED,
                reason=EndReason.QUALIFIED,
                line=phrases.qualified_close(self._context),
            ):
                yield out
            return

        # Every path below is another agent turn: the caps apply here.
        limit = self._limit_reached()
        if limit is not None:
            async for out in self.close(reason=limit):
                yield out
            return
        prefix = self._prefix(intents)
        if self._offered:
            async for out in self._reoffer(text, prefix):
                yield out
            return
        async for out in self._qualify(text, intents, prefix):
            yield out

    def _prefix(self, intents: frozenset[CallerIntent]) -> list[str]:
        prefix: list[str] = []
        if self._remind_disclosure:
            prefix.append(phrases.disclosure_reminder(self._context))
            self._remind_disclosure = False
        if CallerIntent.ASKS_IF_AI in intents:
            prefix.append(phrases.ai_answer(self._context))
        return prefix

    async def _qualify(
        self, text: str, intents: frozenset[CallerIntent], prefix: list[str]
    ) -> AsyncIterator[dict[str, Any]]:
        awaiting = self._awaiting
        learned: dict[str, str] = {}
        if not intents & _NOT_ANSWERS:
            learned = read_answers(text, awaiting=awaiting, known=self._qualification)
            self._qualification.values.update(learned)

        if self._wants_booking and BEST_TIME in learned:
            async for out in self._book(learned[BEST_TIME]):
                yield out
            return

        goal = TurnGoal.ASK
        item = self._qualification.next_item()
        if self._wants_booking and BEST_TIME not in self._qualification.values:
            item = next(i for i in self._plan if i.key == BEST_TIME)
        unanswered = awaiting is not None and awaiting.key not in learned and item == awaiting
        # A question back ("are you a robot?", "say that again?") is not an unclear answer.
        if awaiting is not None and unanswered and not intents & _NOT_ANSWERS:
            self._reasks[awaiting.key] += 1
            if self._reasks[awaiting.key] > self._limits.max_reasks:
                self._qualification.skipped.add(awaiting.key)
                item = self._qualification.next_item()
            else:
                goal = TurnGoal.REASK
        if item is None:
            goal = TurnGoal.OFFER
            self._offered = True
        self._awaiting = item
        async for out in self._agent_reply(goal, text, tuple(learned), item, prefix):
            yield out

    async def _reoffer(self, text: str, prefix: list[str]) -> AsyncIterator[dict[str, Any]]:
        self._reasks["offer"] += 1
        if self._reasks["offer"] > self._limits.max_reasks:
            async for out in self._close(
                outcome=Outcome.QUALIFIED,
                reason=EndReason.QUALIFIED,
                line=phrases.qualified_close(self._context),
            ):
                yield out
            return
        async for out in self._agent_reply(TurnGoal.REOFFER, text, (), None, prefix):
            yield out

    async def _on_dtmf(self, digit: str) -> AsyncIterator[dict[str, Any]]:
        self._record_caller(digit, kind="dtmf")
        if digit == phrases.OPT_OUT_DIGIT:
            async for out in self._opt_out(via="dtmf", heard=f"dtmf:{digit}", wrong_party=False):
                yield out
        elif digit == phrases.TRANSFER_DIGIT:
            async for out in self._transfer():
                yield out

    # --- outcomes ----------------------------------------------------------------------------

    async def _opt_out(
        self, *, via: Literal["speech", "dtmf"], heard: str, wrong_party: bool
    ) -> AsyncIterator[dict[str, Any]]:
        reason = EndReason.WRONG_PARTY if wrong_party else EndReason.OPT_OUT
        phone = self._context.phone or (self._setup.to if self._setup and self._setup.to else "")
        line = (
            phrases.wrong_party_confirmation(self._context)
            if wrong_party
            else phrases.opt_out_confirmation(self._context)
        )
        async for out in self._close(
            outcome=Outcome.OPTED_OUT,
            reason=reason,
            line=line,
            interruptible=False,
            before=(OptOut(phone=phone, reason=reason, via=via, heard=heard),),
        ):
            yield out

    async def _transfer(self) -> AsyncIterator[dict[str, Any]]:
        number = self._context.transfer_number
        if not number:
            prefix = [phrases.transfer_unavailable(self._context)]
            goal = TurnGoal.REOFFER if self._offered else TurnGoal.ASK
            item = None if self._offered else self._awaiting
            async for out in self._agent_reply(goal, "", (), item, prefix):
                yield out
            return
        handoff = self._handoff(
            Outcome.TRANSFERRED, EndReason.TRANSFER, extra={"transfer_number": number}
        )
        async for out in self._close(
            outcome=Outcome.TRANSFERRED,
            reason=EndReason.TRANSFER,
            line=phrases.transfer_line(self._context),
            extra={"transfer_number": number},
            before=(TransferRequested(number=number, handoff=handoff),),
        ):
            yield out

    async def _book(self, slot: str) -> AsyncIterator[dict[str, Any]]:
        self._qualification.values[BEST_TIME] = slot
        lead = self._context.lead
        details = {
            "qualification": self._qualification.as_dict(),
            "service": lead.service,
            "postal_code": lead.postal_code,
        }
        async for out in self._close(
            outcome=Outcome.BOOKED,
            reason=EndReason.BOOKED,
            line=phrases.booked(self._context, slot),
            extra={"booking": {"slot": slot}},
            before=(Booking(slot=slot, details=details),),
        ):
            yield out

    async def _close(
        self,
        *,
        outcome: Outcome,
        reason: EndReason,
        line: str,
        interruptible: bool | None = None,
        extra: Mapping[str, Any] | None = None,
        before: Sequence[SessionEvent] = (),
    ) -> AsyncIterator[dict[str, Any]]:
        """Say `line` and end: events in `before` are reported (awaited) before anything is
        said, `Ended` after the line and before the ``end`` frame."""
        self._finish(outcome, reason, extra=extra)
        for event in before:
            await self._emit(event)
        reply = self._begin_reply(source="script", closing=True)
        async for out in self._speak(reply, fixed=[(line, interruptible)], turn=None):
            yield out
        await self._emit(Ended(outcome=outcome, reason=reason))
        assert self._end_message is not None
        yield self._end_message

    def _finish(
        self, outcome: Outcome, reason: EndReason, *, extra: Mapping[str, Any] | None = None
    ) -> None:
        self._outcome = outcome
        self._end_reason = reason
        self._stop_current()
        handoff = self._handoff(outcome, reason, extra=extra)
        data = json.dumps(handoff, separators=(",", ":"), ensure_ascii=False)
        self._end_message = to_wire(EndMessage(handoff_data=data))

    def _handoff(
        self, outcome: Outcome, reason: EndReason, *, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        handoff: dict[str, Any] = {
            "reason": reason.value,
            "outcome": outcome.value,
            "qualification": self._qualification.as_dict(),
        }
        handoff.update(extra or {})
        return handoff

    def _limit_reached(self) -> EndReason | None:
        if self.deadline is not None and self._now() >= self.deadline:
            return EndReason.TIME_LIMIT
        if self._limits.max_tokens - self._usage.total_tokens < self._limits.min_turn_tokens:
            return EndReason.TOKEN_LIMIT
        return None

    # --- speaking ----------------------------------------------------------------------------

    async def _agent_reply(
        self,
        goal: TurnGoal,
        caller_text: str,
        learned: tuple[str, ...],
        item: PlanItem | None,
        prefix: Sequence[str],
    ) -> AsyncIterator[dict[str, Any]]:
        turn = self._turn(goal, caller_text=caller_text, learned=learned, next_item=item)
        reply = self._begin_reply(source=self._agent.name)
        async for out in self._speak(reply, fixed=[(p, None) for p in prefix], turn=turn):
            yield out

    def _turn(
        self,
        goal: TurnGoal,
        *,
        caller_text: str,
        learned: tuple[str, ...],
        next_item: PlanItem | None,
    ) -> AgentTurn:
        history = [
            Utterance(speaker=e.speaker, text=e.text)
            for e in self._transcript
            if e.kind == "speech" and e.text
        ]
        if caller_text and history and history[-1] == Utterance("caller", caller_text):
            history.pop()
        remaining = self._limits.max_tokens - self._usage.total_tokens
        return AgentTurn(
            context=self._context,
            goal=goal,
            history=tuple(history),
            caller_text=caller_text,
            qualification=self._qualification.as_dict(),
            learned=learned,
            next_item=next_item,
            max_output_tokens=max(1, min(self._limits.max_turn_output_tokens, remaining)),
        )

    def _begin_reply(self, *, source: str, opening: bool = False, closing: bool = False) -> _Reply:
        """Make a new reply the only one allowed to speak (the last words once ended)."""
        self._stop_current()
        self._transcript.append(
            TranscriptEntry(at=self._now(), speaker="agent", text="", source=source)
        )
        reply = _Reply(len(self._transcript) - 1, source=source, opening=opening)
        if self.ended and not closing:
            reply.stopped.set()
            return reply
        self._current = self._last = reply
        return reply

    def _stop_current(self) -> None:
        if self._current is not None:
            self._current.stopped.set()
            self._current = None

    def _may_speak(self, reply: _Reply) -> bool:
        return reply is self._current and not reply.stopped.is_set()

    async def _speak(
        self,
        reply: _Reply,
        *,
        fixed: Sequence[tuple[str, bool | None]],
        turn: AgentTurn | None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Stream `fixed` lines then the agent's reply as ``text`` frames.

        The last word is always held back so the final frame carries real text with
        ``last=true`` (whether an empty closing token is accepted is unverified).
        """
        held, held_flag = "", None
        try:
            async with contextlib.aclosing(self._pieces(reply, fixed, turn)) as pieces:
                async for text, flag in pieces:
                    if held and flag != held_flag:
                        if not self._may_speak(reply):
                            break
                        yield self._text(reply, held, last=False, interruptible=held_flag)
                        held = ""
                    ready, held = _split_last_word(held + text)
                    held_flag = flag
                    if ready:
                        if not self._may_speak(reply):
                            break
                        yield self._text(reply, ready, last=False, interruptible=flag)
            if held and self._may_speak(reply):
                yield self._text(reply, held, last=True, interruptible=held_flag)
        finally:
            self._end_reply(reply)

    def _text(
        self, reply: _Reply, token: str, *, last: bool, interruptible: bool | None
    ) -> dict[str, Any]:
        reply.sent.append(token)
        return to_wire(TextMessage(token=token, last=last, interruptible=interruptible))

    async def _pieces(
        self,
        reply: _Reply,
        fixed: Sequence[tuple[str, bool | None]],
        turn: AgentTurn | None,
    ) -> AsyncGenerator[tuple[str, bool | None], None]:
        for i, (line, flag) in enumerate(fixed):
            more = i < len(fixed) - 1 or turn is not None
            yield (line + " " if more else line), flag
        if turn is None:
            return
        spoke = False
        stream = self._agent.reply(turn)
        while True:
            try:
                delta = await self._next_delta(stream, reply)
            except Exception:
                logger.exception("agent failed mid-turn", extra={"agent": self._agent.name})
                await _aclose(stream)
                if spoke or not self._may_speak(reply):
                    return
                # An agent must not raise; if one does, the floor answers this turn.
                spoke = True
                stream = self._floor.reply(turn)
                continue
            if delta is None:
                break
            if delta.usage is not None:
                self._account(reply, delta.usage)
            if delta.text:
                spoke = True
                yield delta.text, None
        await _aclose(stream)
        if not spoke and self._may_speak(reply):
            # A reply must end with words; an agent that produced none is replaced.
            async for delta in self._floor.reply(turn):
                if delta.usage is not None:
                    self._account(reply, delta.usage)
                if delta.text:
                    yield delta.text, None

    async def _next_delta(
        self, stream: AsyncIterator[AgentDelta], reply: _Reply
    ) -> AgentDelta | None:
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

    def _account(self, reply: _Reply, usage: TurnUsage) -> None:
        self._usage.input_tokens += usage.input_tokens
        self._usage.output_tokens += usage.output_tokens
        self._usage.cost_usd += usage.cost_usd
        self._usage.agent_turns += 1
        if usage.fell_back:
            self._usage.fallback_turns += 1
        reply.source = usage.source

    def _end_reply(self, reply: _Reply) -> None:
        entry = self._transcript[reply.index]
        if not reply.interrupted:
            entry = replace(entry, text="".join(reply.sent).strip())
        self._transcript[reply.index] = replace(entry, source=reply.source)
        if reply is self._current:
            self._current = None

    def _interrupted(self, message: InterruptMessage) -> None:
        reply = self._last
        if reply is None:
            return
        reply.stopped.set()
        reply.interrupted = True
        if reply is self._current:
            self._current = None
        heard = message.utterance_until_interrupt.strip()
        self._transcript[reply.index] = replace(
            self._transcript[reply.index],
            text=heard,
            interrupted=True,
            interrupted_after_ms=message.duration_until_interrupt_ms,
        )
        if reply.opening and normalize(phrases.disclosure(self._context)) not in normalize(heard):
            self._remind_disclosure = True

    # --- bookkeeping -------------------------------------------------------------------------

    def _record_caller(self, text: str, *, kind: Literal["speech", "dtmf"]) -> None:
        self._transcript.append(
            TranscriptEntry(at=self._now(), speaker="caller", text=text, kind=kind)
        )

    async def _emit(self, event: SessionEvent) -> None:
        self._events.append(event)
        if self._on_event is not None:
            await self._on_event(event)

    def _now(self) -> datetime:
        return self._clock()


async def _aclose(stream: AsyncIterator[AgentDelta]) -> None:
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()
