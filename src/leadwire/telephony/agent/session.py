"""`RelaySession`: one call's conversation engine, independent of any transport.

The route feeds every ConversationRelay message to `handle` and sends whatever it yields.
Replies stream while later messages keep arriving, so `handle` may run for several messages at
once (see `runner.run_relay`): only the newest reply may speak, and an ``interrupt``, a new
prompt, or the end of the session stops the one in flight before its next token, even while
it waits for the model.

What the caller's words lead to is decided by `decide.decide` (opt-out first, always); the
call-length and token caps are checked before every further agent turn and end the call
politely. Opt-out, transfer and goodbyes are fixed lines (`phrases`), never a model's. What
the call leaves behind (transcript, usage, events, outcome) is kept in `record`.

Effects leave as `SessionEvent`s through the awaited `on_event` hook, each before the ``end``
message that closes the session, so the route persists an opt-out before Twilio hangs up. If
the hook raises, the exception propagates out of `handle` and no ``end`` is yielded; the
session is already over, and `end_message` still gives the frame to close with once the route
has dealt with the failure.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from leadwire.leads.enrichment.text import normalize
from leadwire.telephony.agent import phrases, speaking
from leadwire.telephony.agent.base import (
    Agent,
    AgentTurn,
    CallContext,
    PlanItem,
    TurnGoal,
    Utterance,
)
from leadwire.telephony.agent.decide import Step, decide
from leadwire.telephony.agent.events import (
    Booking,
    Ended,
    EndReason,
    OptOut,
    Outcome,
    SessionEvent,
    TransferRequested,
)
from leadwire.telephony.agent.intents import CallerIntent, detect_intents
from leadwire.telephony.agent.local import LocalAgent
from leadwire.telephony.agent.protocol import (
    DtmfMessage,
    ErrorMessage,
    InfoMessage,
    InterruptMessage,
    PromptMessage,
    SetupMessage,
    UnparsedMessage,
    parse_incoming,
)
from leadwire.telephony.agent.qualification import (
    BEST_TIME,
    Qualification,
    build_plan,
    read_answers,
    time_phrase,
)
from leadwire.telephony.agent.record import CallRecord
from leadwire.telephony.agent.speaking import Reply, Voice

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


_NOT_ANSWERS = frozenset({CallerIntent.ASKS_IF_AI, CallerIntent.REPEAT})


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

        self.record = CallRecord()
        self._voice = Voice(record=self.record, clock=clock, agent=agent, floor=LocalAgent())
        self._caller_turns = 0

    # --- what the route reads ----------------------------------------------------------------

    @property
    def ended(self) -> bool:
        return self.record.outcome is not None

    @property
    def outcome(self) -> Outcome | None:
        return self.record.outcome

    @property
    def end_message(self) -> dict[str, Any] | None:
        """The ``end`` frame (with handoffData) once the session is over."""
        return self.record.end_message

    @property
    def qualification(self) -> dict[str, Any]:
        return self._qualification.as_dict()

    @property
    def deadline(self) -> datetime | None:
        """When the call-length cap runs out (None before the session starts)."""
        if self.record.started_at is None:
            return None
        return self.record.started_at + timedelta(seconds=self._limits.max_call_seconds)

    # --- input -------------------------------------------------------------------------------

    async def handle(
        self, message: Mapping[str, Any] | str | bytes
    ) -> AsyncIterator[dict[str, Any]]:
        """Outgoing frames for one incoming frame (possibly none)."""
        parsed = parse_incoming(message)
        if isinstance(parsed, UnparsedMessage):
            self.record.problems.append(f"{parsed.type or 'unknown'}: {parsed.problem}")
            return
        if isinstance(parsed, ErrorMessage):
            self.record.problems.append(f"error: {parsed.description}")
            return
        if isinstance(parsed, InfoMessage) or self.ended:
            return
        if isinstance(parsed, InterruptMessage):
            self._interrupted(parsed)
            return
        if isinstance(parsed, SetupMessage):
            if self.record.started_at is None:
                self.record.setup = parsed
                async for out in self._open():
                    yield out
            return
        if self.record.started_at is None:
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
        self.record.started_at = self._now()
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
        decision = decide(
            intents=intents,
            first_words=self._caller_turns == 1,
            offered=self._offered,
            slot_named=time_phrase(text),
            slot_known=self._qualification.values.get(BEST_TIME),
        )
        match decision.step:
            case Step.OPT_OUT | Step.WRONG_PARTY:
                wrong_party = decision.step is Step.WRONG_PARTY
                frames = self._opt_out(via="speech", heard=text, wrong_party=wrong_party)
            case Step.TRANSFER:
                frames = self._transfer()
            case Step.BOOK:
                assert decision.slot is not None
                frames = self._book(decision.slot)
            case Step.VOICEMAIL | Step.NOT_INTERESTED | Step.DECLINE | Step.CALLER_END:
                frames = self._close_for(decision.step)
            case _:
                frames = self._converse(decision.step, text, intents)
        async for out in frames:
            yield out

    def _close_for(self, step: Step) -> AsyncIterator[dict[str, Any]]:
        ctx = self._context
        lines = {
            Step.VOICEMAIL: (Outcome.VOICEMAIL, EndReason.VOICEMAIL, phrases.voicemail_message),
            Step.NOT_INTERESTED: (
                Outcome.NOT_INTERESTED,
                EndReason.NOT_INTERESTED,
                phrases.not_interested_close,
            ),
            Step.DECLINE: (Outcome.QUALIFIED, EndReason.QUALIFIED, phrases.qualified_close),
            Step.CALLER_END: (
                Outcome.QUALIFIED if self._qualification.complete else Outcome.ENDED,
                EndReason.CALLER_ENDED,
                phrases.caller_end_close,
            ),
        }
        outcome, reason, line = lines[step]
        return self._close(outcome=outcome, reason=reason, line=line(ctx))

    async def _converse(
        self, step: Step, text: str, intents: frozenset[CallerIntent]
    ) -> AsyncIterator[dict[str, Any]]:
        """Another agent turn (the caps apply here, and only here)."""
        if step is Step.ASK_TIME:
            # Yes to a visit but no time known yet: go back and ask for one.
            self._wants_booking = True
            self._offered = False
            self._qualification.skipped.discard(BEST_TIME)
        limit = self._limit_reached()
        if limit is not None:
            frames = self.close(reason=limit)
        elif step is Step.REOFFER:
            frames = self._reoffer(text, self._prefix(intents))
        else:
            frames = self._qualify(text, intents, self._prefix(intents))
        async for out in frames:
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
        setup = self.record.setup
        phone = self._context.phone or (setup.to if setup and setup.to else "")
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
        end = self._finish(outcome, reason, extra=extra)
        for event in before:
            await self._emit(event)
        reply = self._begin_reply(source="script", closing=True)
        async for out in self._speak(reply, fixed=[(line, interruptible)], turn=None):
            yield out
        await self._emit(Ended(outcome=outcome, reason=reason))
        yield end

    def _finish(
        self, outcome: Outcome, reason: EndReason, *, extra: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Mark the session over (nothing but its closing line may still be said); the ``end``
        frame is returned and kept in the record."""
        self._voice.stop_current()
        return self.record.finish(outcome, reason, self._handoff(outcome, reason, extra=extra))

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
        if self._limits.max_tokens - self.record.usage.total_tokens < self._limits.min_turn_tokens:
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
            for e in self.record.transcript
            if e.kind == "speech" and e.text
        ]
        if caller_text and history and history[-1] == Utterance("caller", caller_text):
            history.pop()
        remaining = self._limits.max_tokens - self.record.usage.total_tokens
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

    def _begin_reply(self, *, source: str, opening: bool = False, closing: bool = False) -> Reply:
        # Once the session is over only its closing line may still be said.
        return self._voice.begin(source=source, opening=opening, allowed=closing or not self.ended)

    def _speak(
        self, reply: Reply, *, fixed: Sequence[speaking.Piece], turn: AgentTurn | None
    ) -> AsyncIterator[dict[str, Any]]:
        return self._voice.speak(reply, fixed=fixed, turn=turn)

    def _interrupted(self, message: InterruptMessage) -> None:
        heard = message.utterance_until_interrupt.strip()
        reply = self._voice.interrupted(heard=heard, after_ms=message.duration_until_interrupt_ms)
        disclosure = normalize(phrases.disclosure(self._context))
        if reply is not None and reply.opening and disclosure not in normalize(heard):
            self._remind_disclosure = True

    # --- bookkeeping -------------------------------------------------------------------------

    def _record_caller(self, text: str, *, kind: Literal["speech", "dtmf"]) -> None:
        self.record.add(at=self._now(), speaker="caller", text=text, kind=kind)

    async def _emit(self, event: SessionEvent) -> None:
        self.record.events.append(event)
        if self._on_event is not None:
            await self._on_event(event)

    def _now(self) -> datetime:
        return self._clock()
