"""RelaySession against Twilio's real message sequence, with the local agent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from leadwire.leads.enrichment import LeadFacts
from leadwire.telephony.agent import (
    Booking,
    CallContext,
    Ended,
    EndReason,
    LocalAgent,
    OptOut,
    Outcome,
    RelaySession,
    SessionLimits,
    TransferRequested,
)

from .conftest import (
    CALLEE,
    SETUP,
    TRANSFER,
    EventLog,
    FakeClock,
    assert_one_reply,
    collect,
    dtmf,
    interrupt,
    prompt,
    spoken,
)


def make_session(
    context: CallContext,
    clock: FakeClock,
    log: EventLog | None = None,
    limits: SessionLimits | None = None,
) -> RelaySession:
    return RelaySession(
        context=context, agent=LocalAgent(), clock=clock, limits=limits, on_event=log
    )


class Call:
    """Plays frames into a session the way the route would, keeping everything sent."""

    def __init__(self, session: RelaySession, log: EventLog) -> None:
        self.session = session
        self.sent = log.sent

    async def say(self, frame: dict[str, Any] | str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        async for f in self.session.handle(frame):
            self.sent.append(f)
            out.append(f)
        return out


@pytest.fixture
def log() -> EventLog:
    return EventLog()


@pytest.fixture
def call(context: CallContext, clock: FakeClock, log: EventLog) -> Call:
    return Call(make_session(context, clock, log), log)


def handoff(frame: dict[str, Any]) -> dict[str, Any]:
    assert frame["type"] == "end"
    data = json.loads(frame["handoffData"])
    assert isinstance(data, dict)
    return data


async def test_twilio_sequence_disclosure_interrupt_and_dtmf(
    call: Call, log: EventLog, clock: FakeClock
) -> None:
    # setup: the first words are the disclosure, in the required order, not cut by speech.
    opening = await call.say(SETUP)
    assert_one_reply(opening)
    first = opening[0]
    assert first["type"] == "text"
    assert first["interruptible"] is False
    said = spoken(opening)
    assert said.startswith("Hi Sarah, this is Acme HVAC.")
    name_at = said.index("Acme HVAC")
    ai_at = said.index("automated call using an AI voice")
    opt_out_at = said.index("say stop or press 9")
    purpose_at = said.index("your request for HVAC Emergency")
    assert name_at < ai_at < opt_out_at < purpose_at
    # Grounded in the lead: its message is echoed, and the first open item is asked.
    assert "AC not cooling at all" in said
    assert said.rstrip().endswith("no rush?")

    # A partial prompt is not acted on; the final one is.
    assert await call.say(prompt("Today if", last=False)) == []
    clock.advance(8)
    reply = await call.say(prompt("Today if possible, it's 90 degrees in here"))
    assert_one_reply(reply)
    assert "address" in spoken(reply)
    assert call.session.qualification["urgency"] == "high"

    # The caller cuts the next reply off: not one more token of it is sent.
    clock.advance(5)
    stream = call.session.handle(prompt("12 Oak Street"))
    head = await anext(stream)
    assert head["type"] == "text"
    assert head["last"] is False
    assert await call.say(interrupt("Got it, thank", "640")) == []
    assert await collect(stream) == []
    cut = call.session.record.transcript[-1]
    assert (cut.speaker, cut.text, cut.interrupted, cut.interrupted_after_ms) == (
        "agent",
        "Got it, thank",
        True,
        640,
    )

    # The conversation goes on from where it was.
    reply = await call.say(prompt("Yes, it's about fifteen years old"))
    assert_one_reply(reply)
    assert "good time for a visit" in spoken(reply)

    # A key with no meaning is recorded and ignored; 0 asks for a person.
    assert await call.say(dtmf("5")) == []
    frames = await call.say(dtmf("0"))
    assert frames[-1]["type"] == "end"
    assert_one_reply(frames[:-1])
    assert "connect you with someone from Acme HVAC" in spoken(frames)
    data = handoff(frames[-1])
    assert data["reason"] == "transfer"
    assert data["outcome"] == "transferred"
    assert data["transfer_number"] == TRANSFER
    assert data["qualification"]["address"] == "12 Oak Street"

    assert call.session.outcome is Outcome.TRANSFERRED
    transfer, ended = log.events
    assert isinstance(transfer, TransferRequested)
    assert transfer.number == TRANSFER
    assert transfer.handoff["transfer_number"] == TRANSFER
    assert ended == Ended(outcome=Outcome.TRANSFERRED, reason=EndReason.TRANSFER)

    # Transcript: timestamped, speaker by speaker, keys included.
    speakers = [(e.speaker, e.kind) for e in call.session.record.transcript]
    assert speakers[0] == ("agent", "speech")
    assert ("caller", "dtmf") in speakers
    assert call.session.record.transcript[0].at == FakeClock().now
    assert call.session.record.transcript[-1].at > call.session.record.transcript[0].at
    # Nothing more once the session is over.
    assert await call.say(prompt("hello?")) == []


@pytest.mark.parametrize(
    "frame",
    [
        prompt("Stop calling me"),
        prompt("please remove me from your list"),
        prompt("Don't call me again."),
        prompt("um, STOP."),
        prompt("unsubscribe"),
        dtmf("9"),
    ],
)
async def test_opt_out_is_reported_before_the_end_frame(
    call: Call, log: EventLog, frame: dict[str, Any]
) -> None:
    await call.say(SETUP)
    await call.say(prompt("today please"))
    frames = await call.say(frame)

    assert frames[-1]["type"] == "end"
    assert_one_reply(frames[:-1])
    assert "do-not-call list" in spoken(frames)
    assert all(f.get("interruptible") is False for f in frames[:-1])
    assert handoff(frames[-1])["outcome"] == "opted_out"

    opt_out, ended = log.events
    assert isinstance(opt_out, OptOut)
    assert opt_out.phone == CALLEE
    assert opt_out.reason is EndReason.OPT_OUT
    assert opt_out.via == ("dtmf" if frame["type"] == "dtmf" else "speech")
    assert CALLEE not in repr(opt_out)
    assert isinstance(ended, Ended)
    # The hook ran (the route persisted the revocation) before `end` went out.
    assert log.end_sent_before == [False, False]
    assert call.session.outcome is Outcome.OPTED_OUT


async def test_wrong_number_is_an_opt_out_too(call: Call, log: EventLog) -> None:
    await call.say(SETUP)
    frames = await call.say(prompt("You have the wrong number, nobody here by that name"))
    assert frames[-1]["type"] == "end"
    (opt_out, _) = log.events
    assert isinstance(opt_out, OptOut)
    assert opt_out.reason is EndReason.WRONG_PARTY
    assert handoff(frames[-1])["reason"] == "wrong_party"


async def test_opt_out_wins_even_past_the_limits(
    context: CallContext, clock: FakeClock, log: EventLog
) -> None:
    call = Call(make_session(context, clock, log, SessionLimits(max_call_seconds=30)), log)
    await call.say(SETUP)
    clock.advance(60)
    frames = await call.say(prompt("stop calling me"))
    assert handoff(frames[-1])["outcome"] == "opted_out"


async def test_opt_out_interrupts_a_reply_in_flight(call: Call, log: EventLog) -> None:
    await call.say(SETUP)
    stream = call.session.handle(prompt("today"))
    await anext(stream)
    frames = await call.say(dtmf("9"))
    assert frames[-1]["type"] == "end"
    assert await collect(stream) == []  # the old reply never speaks again
    assert isinstance(log.events[0], OptOut)


async def test_a_new_prompt_supersedes_the_reply_in_flight(call: Call) -> None:
    await call.say(SETUP)
    stream = call.session.handle(prompt("today"))
    await anext(stream)
    reply = await call.say(prompt("are you a robot?"))
    assert_one_reply(reply)
    assert await collect(stream) == []


async def test_full_qualification_and_booking(call: Call, log: EventLog) -> None:
    await call.say(SETUP)
    await call.say(prompt("As soon as possible"))
    await call.say(prompt("It's 12 Oak Street"))
    await call.say(prompt("about twelve years old"))
    offer = await call.say(prompt("tomorrow morning"))
    assert_one_reply(offer)
    assert "book" in spoken(offer)
    assert "tomorrow morning" in spoken(offer)
    frames = await call.say(prompt("Yes please"))

    assert "requested a visit for tomorrow morning" in spoken(frames)
    assert "512-555-0100" in spoken(frames)  # the business's callback number
    data = handoff(frames[-1])
    assert data["outcome"] == "booked"
    assert data["booking"] == {"slot": "tomorrow morning"}
    assert data["qualification"] == {
        "need": "AC not cooling at all",
        "urgency": "high",
        "address": "It's 12 Oak Street",
        "best_time": "tomorrow morning",
        "answers": {"Is the unit older than ten years?": "about twelve years old"},
    }
    booking, ended = log.events
    assert isinstance(booking, Booking)
    assert booking.slot == "tomorrow morning"
    assert booking.details["service"] == "HVAC Emergency"
    assert ended == Ended(outcome=Outcome.BOOKED, reason=EndReason.BOOKED)
    assert call.session.record.usage.agent_turns == 5
    assert call.session.record.usage.output_tokens > 0


async def test_booking_asked_for_early_asks_for_a_time(call: Call) -> None:
    await call.say(SETUP)
    reply = await call.say(prompt("can you just book someone to come out?"))
    assert "good time for a visit" in spoken(reply)
    frames = await call.say(prompt("Friday afternoon"))
    assert handoff(frames[-1])["booking"] == {"slot": "friday afternoon"}


async def test_declining_the_offer_ends_qualified(call: Call, log: EventLog) -> None:
    for frame in (SETUP, prompt("this week"), prompt("5 Elm Road"), prompt("no, it's new")):
        await call.say(frame)
    await call.say(prompt("any time"))
    frames = await call.say(prompt("no thanks"))
    assert handoff(frames[-1])["outcome"] == "qualified"
    assert log.events[-1] == Ended(outcome=Outcome.QUALIFIED, reason=EndReason.QUALIFIED)


@pytest.mark.parametrize(
    ("words", "outcome", "reason"),
    [
        ("I'm not interested", Outcome.NOT_INTERESTED, EndReason.NOT_INTERESTED),
        ("we already hired someone, thanks", Outcome.NOT_INTERESTED, EndReason.NOT_INTERESTED),
        ("sorry, I have to go, bye", Outcome.ENDED, EndReason.CALLER_ENDED),
    ],
)
async def test_caller_endings(
    call: Call, log: EventLog, words: str, outcome: Outcome, reason: EndReason
) -> None:
    await call.say(SETUP)
    frames = await call.say(prompt(words))
    assert_one_reply(frames[:-1])
    assert handoff(frames[-1])["outcome"] == outcome.value
    assert log.events == [Ended(outcome=outcome, reason=reason)]


async def test_voicemail_greeting_gets_the_message_and_ends(call: Call) -> None:
    await call.say(SETUP)
    frames = await call.say(
        prompt("Hi, you've reached Sarah. Please leave a message after the tone.")
    )
    said = spoken(frames)
    assert said.startswith("Hi Sarah, this is Acme HVAC with an automated AI message")
    assert "800-555-0199" in said  # the tenant's voicemail text
    assert handoff(frames[-1])["outcome"] == "voicemail"


async def test_transfer_without_a_number_keeps_the_conversation_going(
    context: CallContext, clock: FakeClock, log: EventLog
) -> None:
    ctx = CallContext(business_name="Acme HVAC", phone=CALLEE, lead=context.lead)
    call = Call(make_session(ctx, clock, log), log)
    await call.say(SETUP)
    frames = await call.say(prompt("I want to talk to a real person"))
    assert_one_reply(frames)
    said = spoken(frames)
    assert "can't connect you to a person right now" in said
    assert said.rstrip().endswith("no rush?")
    assert not call.session.ended
    assert log.events == []


async def test_asked_if_it_is_a_robot_it_says_so(call: Call) -> None:
    await call.say(SETUP)
    frames = await call.say(prompt("Wait, am I talking to a robot?"))
    said = spoken(frames)
    assert said.startswith("Yes, I'm an AI assistant calling for Acme HVAC.")
    assert said.rstrip().endswith("no rush?")  # the question is asked again, not skipped
    assert call.session.qualification["urgency"] is None  # a question is not an answer


async def test_cut_off_disclosure_is_repeated(call: Call) -> None:
    stream = call.session.handle(SETUP)
    await anext(stream)
    await call.say(interrupt("Hi Sarah, this is Acme"))
    assert await collect(stream) == []
    frames = await call.say(prompt("sorry, who is this?"))
    assert spoken(frames).startswith("Just so you know, this is an automated AI call from Acme")
    # Only once.
    frames = await call.say(prompt("today"))
    assert not spoken(frames).startswith("Just so you know")


async def test_the_call_length_cap_ends_politely(
    context: CallContext, clock: FakeClock, log: EventLog
) -> None:
    call = Call(make_session(context, clock, log, SessionLimits(max_call_seconds=120)), log)
    await call.say(SETUP)
    assert call.session.deadline == clock.now.replace(minute=2)
    clock.advance(60)
    assert (await call.say(prompt("today")))[-1]["type"] != "end"
    clock.advance(61)
    frames = await call.say(prompt("12 Oak Street"))
    assert_one_reply(frames[:-1])
    assert "I have to wrap up this call now" in spoken(frames)
    assert handoff(frames[-1])["reason"] == "time_limit"
    assert log.events == [Ended(outcome=Outcome.ENDED, reason=EndReason.TIME_LIMIT)]


async def test_the_route_can_end_a_silent_call_at_the_deadline(call: Call, log: EventLog) -> None:
    await call.say(SETUP)
    frames = await collect(call.session.close(reason=EndReason.TIME_LIMIT))
    assert "wrap up" in spoken(frames)
    assert handoff(frames[-1])["reason"] == "time_limit"
    assert await collect(call.session.close(reason=EndReason.TIME_LIMIT)) == []


async def test_the_token_cap_ends_politely(
    context: CallContext, clock: FakeClock, log: EventLog
) -> None:
    limits = SessionLimits(max_tokens=100, min_turn_tokens=40)
    call = Call(make_session(context, clock, log, limits), log)
    await call.say(SETUP)
    turns = 0
    frames: list[dict[str, Any]] = []
    while not call.session.ended and turns < 10:
        frames = await call.say(prompt("hmm, well, it is hard to say"))
        turns += 1
    assert call.session.record.end_reason is EndReason.TOKEN_LIMIT
    assert 1 < turns < 10
    assert call.session.record.usage.total_tokens <= limits.max_tokens
    assert "wrap up" in spoken(frames)
    assert handoff(frames[-1])["reason"] == "token_limit"


async def test_hangup_reports_ended_and_sends_nothing(call: Call, log: EventLog) -> None:
    await call.say(SETUP)
    assert await collect(call.session.close(reason=EndReason.HANGUP)) == []
    assert log.events == [Ended(outcome=Outcome.ENDED, reason=EndReason.HANGUP)]
    assert call.session.end_message is not None


async def test_a_prompt_before_setup_still_hears_the_disclosure_first(call: Call) -> None:
    frames = await call.say(prompt("hello?"))
    assert spoken(frames).startswith("Hi Sarah, this is Acme HVAC.")
    # A late setup does not restart the call.
    assert await call.say(SETUP) == []


async def test_unreadable_frames_are_recorded_not_fatal(call: Call) -> None:
    await call.say(SETUP)
    assert await call.say({"type": "mystery", "x": 1}) == []
    assert await call.say("{broken") == []
    assert await call.say({"type": "error", "description": "Invalid message received"}) == []
    assert await call.say({"type": "info", "name": "tokensPlayed", "value": 12}) == []
    assert call.session.record.problems == [
        "mystery: invalid message",
        "unknown: not JSON",
        "error: Invalid message received",
    ]
    reply = await call.say(prompt("today"))
    assert_one_reply(reply)


async def test_a_failing_event_hook_keeps_the_end_frame_back(
    context: CallContext, clock: FakeClock
) -> None:
    async def broken(event: object) -> None:
        raise RuntimeError("database down")

    session = RelaySession(context=context, agent=LocalAgent(), clock=clock, on_event=broken)
    await collect(session.handle(SETUP))
    frames = session.handle(prompt("stop calling me"))
    with pytest.raises(RuntimeError, match="database down"):
        await anext(frames)  # the very first step fails: nothing was said to the caller
    assert await collect(frames) == []
    assert session.ended
    assert session.end_message is not None
    assert handoff(session.end_message)["outcome"] == "opted_out"


async def test_the_lead_without_a_name_or_service_gets_a_neutral_opening(
    clock: FakeClock, log: EventLog
) -> None:
    ctx = CallContext(business_name="Acme HVAC", phone=CALLEE, lead=LeadFacts())
    call = Call(make_session(ctx, clock, log), log)
    said = spoken(await call.say(SETUP))
    assert said.startswith("Hi, this is Acme HVAC.")
    assert "the request you sent us" in said
    assert said.rstrip().endswith("What can we help you with?")


async def test_the_record_summarizes_the_call_for_storage(call: Call) -> None:
    await call.say(SETUP)
    await call.say(prompt("today"))
    await call.say(dtmf("9"))
    summary = call.session.record.as_dict()
    json.dumps(summary)  # JSON-ready
    assert summary["outcome"] == "opted_out"
    assert summary["end_reason"] == "opt_out"
    assert summary["handoff"]["outcome"] == "opted_out"
    assert [e["speaker"] for e in summary["transcript"]] == [
        "agent",
        "caller",
        "agent",
        "caller",
        "agent",
    ]
    assert summary["transcript"][3] == {
        "at": "2026-11-21T15:00:00+00:00",
        "speaker": "caller",
        "text": "9",
        "kind": "dtmf",
    }
    assert summary["usage"]["agent_turns"] == 2
