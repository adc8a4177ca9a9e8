"""ConversationRelay frames: Twilio's field names in, ours out, nothing crashes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.telephony.agent.protocol import (
    DtmfMessage,
    EndMessage,
    InfoMessage,
    InterruptMessage,
    LanguageMessage,
    PlayMessage,
    PromptMessage,
    SendDigitsMessage,
    SetupMessage,
    TextMessage,
    UnparsedMessage,
    parse_incoming,
    to_wire,
)

from .conftest import SETUP


def test_setup_keeps_every_twilio_field() -> None:
    message = parse_incoming(SETUP)
    assert isinstance(message, SetupMessage)
    assert message.session_id == SETUP["sessionId"]
    assert message.call_sid == SETUP["callSid"]
    assert message.from_ == SETUP["from"]
    assert message.to == SETUP["to"]
    assert message.call_type == "PSTN"
    assert message.custom_parameters == {"call_id": "42", "tenant_id": "7"}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {
                "type": "prompt",
                "voicePrompt": "Hi! Can you tell me about life?",
                "lang": "en-US",
                "last": True,
            },
            PromptMessage(
                type="prompt",
                voice_prompt="Hi! Can you tell me about life?",
                lang="en-US",
                last=True,
            ),
        ),
        (
            {"type": "prompt", "voicePrompt": "Hi! Can", "lang": "en-US", "last": False},
            PromptMessage(type="prompt", voice_prompt="Hi! Can", lang="en-US", last=False),
        ),
        (
            {
                "type": "interrupt",
                "utteranceUntilInterrupt": "Life is a complex set of",
                "durationUntilInterruptMs": "460",
            },
            InterruptMessage(
                type="interrupt",
                utterance_until_interrupt="Life is a complex set of",
                duration_until_interrupt_ms=460,
            ),
        ),
        (
            {
                "type": "interrupt",
                "utteranceUntilInterrupt": "Hello",
                "durationUntilInterruptMs": 1820,
            },
            InterruptMessage(
                type="interrupt",
                utterance_until_interrupt="Hello",
                duration_until_interrupt_ms=1820,
            ),
        ),
        ({"type": "dtmf", "digit": "9"}, DtmfMessage(type="dtmf", digit="9")),
        (
            {"type": "info", "name": "agentSpeaking", "value": "on"},
            InfoMessage(type="info", name="agentSpeaking", value="on"),
        ),
    ],
)
def test_incoming_frames_parse_with_twilio_names(raw: dict[str, Any], expected: object) -> None:
    assert parse_incoming(raw) == expected


def test_text_frames_are_parsed_too() -> None:
    assert parse_incoming('{"type": "dtmf", "digit": "0"}') == DtmfMessage(type="dtmf", digit="0")
    assert parse_incoming(b'{"type": "error", "description": "Invalid message"}').type == "error"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("not json at all", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ({"type": "mystery"}, "invalid"),
        ({"voicePrompt": "no type"}, "invalid"),
        ({"type": "dtmf"}, "invalid dtmf.digit"),
        ({"type": "prompt", "voicePrompt": {"nested": True}}, "invalid prompt.voicePrompt"),
    ],
)
def test_bad_frames_come_back_unparsed(raw: Any, problem: str) -> None:
    message = parse_incoming(raw)
    assert isinstance(message, UnparsedMessage)
    assert message.problem.startswith(problem)


@given(
    st.dictionaries(
        st.sampled_from(
            [
                "type",
                "voicePrompt",
                "digit",
                "last",
                "utteranceUntilInterrupt",
                "durationUntilInterruptMs",
                "customParameters",
                "x",
            ]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=20),
            st.sampled_from(["setup", "prompt", "interrupt", "dtmf", "error", "info"]),
        ),
    )
)
def test_parse_incoming_never_raises(raw: dict[str, Any]) -> None:
    parse_incoming(raw)


@pytest.mark.parametrize(
    ("message", "wire"),
    [
        (TextMessage(token="Hello", last=False), {"type": "text", "token": "Hello", "last": False}),
        (
            TextMessage(
                token="Bye.", last=True, interruptible=False, preemptible=True, lang="en-US"
            ),
            {
                "type": "text",
                "token": "Bye.",
                "last": True,
                "interruptible": False,
                "preemptible": True,
                "lang": "en-US",
            },
        ),
        (
            PlayMessage(source="https://example.com/hold.mp3", loop=1, preemptible=False),
            {
                "type": "play",
                "source": "https://example.com/hold.mp3",
                "loop": 1,
                "preemptible": False,
            },
        ),
        (
            SendDigitsMessage(digits="9www4085551212"),
            {"type": "sendDigits", "digits": "9www4085551212"},
        ),
        (
            LanguageMessage(tts_language="es-ES", transcription_language="es-ES"),
            {"type": "language", "ttsLanguage": "es-ES", "transcriptionLanguage": "es-ES"},
        ),
        (
            EndMessage(handoff_data='{"reason":"transfer"}'),
            {"type": "end", "handoffData": '{"reason":"transfer"}'},
        ),
        (EndMessage(), {"type": "end"}),
    ],
)
def test_outgoing_frames_use_twilio_names(message: Any, wire: dict[str, Any]) -> None:
    assert to_wire(message) == wire


def test_send_digits_rejects_what_twilio_would_drop() -> None:
    with pytest.raises(ValueError, match="pattern"):
        SendDigitsMessage(digits="9; drop table")
