"""Reading what the caller wants; opt-out above all."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.telephony.agent.intents import CallerIntent, detect_intents

OPT_OUTS = [
    "Stop calling me",
    "stop calling me!!",
    "STOP.",
    "Stop",
    "please stop",
    "Okay, stop it.",
    "Hey. Stop. I don't want this.",
    "Remove me from your list",
    "please remove my number",
    "take me off your list",
    "Take my number off your call list please",
    "Don't call me again",
    "dont call me anymore",
    "Do not call this number",
    "put me on your do not call list",
    "I'm on the do not call registry",
    "unsubscribe",
    "I want to opt out",
    "opt me out",
    "No more calls please",
    "leave me alone",
    "I never want these calls",
    "I do not want to be contacted",
    "quit calling",
    "lose my number",
    "never call me again",
    "I revoke my consent",
]

NOT_OPT_OUTS = [
    "It won't stop leaking",
    "the AC stopped working",
    "the water doesn't stop running",
    "I don't know",
    "Tomorrow morning works",
    "yes please",
    "Is the technician going to call me first?",
    "I'd like a quote",
    "my neighbor said you do good work",
]


@pytest.mark.parametrize("text", OPT_OUTS)
def test_opt_out_requests_are_recognized(text: str) -> None:
    assert CallerIntent.OPT_OUT in detect_intents(text)


@pytest.mark.parametrize("text", NOT_OPT_OUTS)
def test_ordinary_answers_are_not_opt_outs(text: str) -> None:
    assert CallerIntent.OPT_OUT not in detect_intents(text)


fillers = st.sampled_from(["", "um,", "look,", "okay so", "sorry but", "honestly,", "thanks."])


@given(before=fillers, phrase=st.sampled_from(OPT_OUTS), after=fillers)
def test_opt_out_survives_surrounding_filler(before: str, phrase: str, after: str) -> None:
    assert CallerIntent.OPT_OUT in detect_intents(f"{before} {phrase}. {after}")


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("Can I talk to a person?", CallerIntent.TRANSFER),
        ("I want to speak with a real human", CallerIntent.TRANSFER),
        ("let me talk to someone", CallerIntent.TRANSFER),
        ("transfer me please", CallerIntent.TRANSFER),
        ("Agent.", CallerIntent.TRANSFER),
        ("representative please", CallerIntent.TRANSFER),
        ("get me a live agent", CallerIntent.TRANSFER),
        ("wrong number", CallerIntent.WRONG_PARTY),
        ("I never signed up for anything", CallerIntent.WRONG_PARTY),
        ("there's no one here by that name", CallerIntent.WRONG_PARTY),
        ("I'm not interested", CallerIntent.NOT_INTERESTED),
        ("we already hired someone", CallerIntent.NOT_INTERESTED),
        ("never mind, we fixed it ourselves", CallerIntent.NOT_INTERESTED),
        ("I don't need it anymore", CallerIntent.NOT_INTERESTED),
        ("okay bye", CallerIntent.END),
        ("I have to go", CallerIntent.END),
        ("call me back later", CallerIntent.END),
        ("Can you book me for Tuesday?", CallerIntent.BOOK),
        ("please schedule a visit", CallerIntent.BOOK),
        ("can someone come out tomorrow", CallerIntent.BOOK),
        ("yes", CallerIntent.AFFIRM),
        ("Sure, that works", CallerIntent.AFFIRM),
        ("ok", CallerIntent.AFFIRM),
        ("no thanks", CallerIntent.DENY),
        ("No.", CallerIntent.DENY),
        ("don't book it yet", CallerIntent.DENY),
        ("sorry, can you repeat that?", CallerIntent.REPEAT),
        ("what?", CallerIntent.REPEAT),
        ("Are you a robot?", CallerIntent.ASKS_IF_AI),
        ("is this a real person", CallerIntent.ASKS_IF_AI),
        ("am I talking to a computer", CallerIntent.ASKS_IF_AI),
        (
            "Hi, you've reached Sarah. Please leave a message after the tone.",
            CallerIntent.VOICEMAIL,
        ),
        ("The person you are trying to reach is not available", CallerIntent.VOICEMAIL),
    ],
)
def test_intents(text: str, intent: CallerIntent) -> None:
    assert intent in detect_intents(text)


@pytest.mark.parametrize(
    ("text", "absent"),
    [
        ("I'm not sure", CallerIntent.AFFIRM),
        ("that is not correct", CallerIntent.AFFIRM),
        ("do not book it", CallerIntent.BOOK),
        ("do not book it", CallerIntent.AFFIRM),
        ("is this a real person", CallerIntent.TRANSFER),
        ("it is not an emergency, no", CallerIntent.AFFIRM),
        ("", CallerIntent.OPT_OUT),
    ],
)
def test_negations_and_questions_do_not_trigger(text: str, absent: CallerIntent) -> None:
    assert absent not in detect_intents(text)
