"""Twilio ConversationRelay WebSocket messages (reference/integrations.md sections 7.2, 7.3).

Python attributes are snake_case; on the wire every field has exactly Twilio's camelCase name
(``voicePrompt``, ``utteranceUntilInterrupt``, ``handoffData``, ...). `parse_incoming` never
raises: a frame that is not JSON, has an unknown ``type`` or fails validation comes back as an
`UnparsedMessage` so the session can record it and carry on. Outgoing models are dumped with
`to_wire`, which drops unset optional fields (Twilio rejects unknown or malformed fields with
error 64107 and drops the message).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)
from pydantic.alias_generators import to_camel

_WIRE = ConfigDict(
    alias_generator=to_camel,
    populate_by_name=True,
    extra="ignore",
    frozen=True,
)


def _milliseconds(value: object) -> object:
    """Twilio's examples show the interrupt duration both as a number and as a quoted string."""
    if isinstance(value, str):
        try:
            return round(float(value.strip()))
        except ValueError:
            return value
    if isinstance(value, float):
        return round(value)
    return value


# --- messages Twilio sends -------------------------------------------------------------------


class SetupMessage(BaseModel):
    model_config = _WIRE

    type: Literal["setup"]
    session_id: str | None = None
    account_sid: str | None = None
    parent_call_sid: str | None = None
    call_sid: str | None = None
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None
    forwarded_from: str | None = None
    call_type: str | None = None
    caller_name: str | None = None
    direction: str | None = None
    call_status: str | None = None
    custom_parameters: dict[str, str] = Field(default_factory=dict)


class PromptMessage(BaseModel):
    model_config = _WIRE

    type: Literal["prompt"]
    voice_prompt: str = ""
    lang: str | None = None
    # Without partialPrompts every prompt is final; treat a missing flag the same way.
    last: bool = True


class InterruptMessage(BaseModel):
    model_config = _WIRE

    type: Literal["interrupt"]
    utterance_until_interrupt: str = ""
    duration_until_interrupt_ms: Annotated[int | None, BeforeValidator(_milliseconds)] = None


class DtmfMessage(BaseModel):
    model_config = _WIRE

    type: Literal["dtmf"]
    digit: str


class ErrorMessage(BaseModel):
    model_config = _WIRE

    type: Literal["error"]
    description: str = ""


class InfoMessage(BaseModel):
    model_config = _WIRE

    type: Literal["info"]
    name: str | None = None
    value: Any = None


IncomingMessage = Annotated[
    SetupMessage | PromptMessage | InterruptMessage | DtmfMessage | ErrorMessage | InfoMessage,
    Field(discriminator="type"),
]
_INCOMING: TypeAdapter[IncomingMessage] = TypeAdapter(IncomingMessage)


class UnparsedMessage(BaseModel):
    """A frame we could not read: unknown type, wrong shape, or not JSON at all."""

    model_config = ConfigDict(frozen=True)

    type: str | None
    problem: str


def parse_incoming(raw: Mapping[str, Any] | str | bytes) -> IncomingMessage | UnparsedMessage:
    """Parse one frame from Twilio; never raises."""
    data: object = raw
    if isinstance(raw, str | bytes):
        try:
            data = json.loads(raw)
        except ValueError:
            return UnparsedMessage(type=None, problem="not JSON")
    if not isinstance(data, Mapping):
        return UnparsedMessage(type=None, problem="not a JSON object")
    kind = data.get("type")
    kind_name = kind if isinstance(kind, str) else None
    try:
        return _INCOMING.validate_python(dict(data))
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "message" for e in exc.errors()})
        return UnparsedMessage(type=kind_name, problem="invalid " + ", ".join(fields))


# --- messages we send ------------------------------------------------------------------------


class TextMessage(BaseModel):
    """Speak text. Stream a reply as several with ``last=False`` and end it with ``last=True``."""

    model_config = _WIRE

    type: Literal["text"] = "text"
    token: str
    last: bool
    lang: str | None = None
    interruptible: bool | None = None
    preemptible: bool | None = None


class PlayMessage(BaseModel):
    model_config = _WIRE

    type: Literal["play"] = "play"
    source: str
    loop: int | None = None
    preemptible: bool | None = None
    interruptible: bool | None = None
    lang: str | None = None


class SendDigitsMessage(BaseModel):
    model_config = _WIRE

    type: Literal["sendDigits"] = "sendDigits"
    digits: Annotated[str, Field(pattern=r"^[0-9*#wW]+$")]


class LanguageMessage(BaseModel):
    model_config = _WIRE

    type: Literal["language"] = "language"
    tts_language: str | None = None
    transcription_language: str | None = None


class EndMessage(BaseModel):
    """End the session; Twilio then requests the ``<Connect action>`` URL with HandoffData."""

    model_config = _WIRE

    type: Literal["end"] = "end"
    handoff_data: str | None = None  # a string: Twilio passes it through, usually JSON


OutgoingMessage = TextMessage | PlayMessage | SendDigitsMessage | LanguageMessage | EndMessage


def to_wire(message: OutgoingMessage) -> dict[str, Any]:
    """The JSON object to send to Twilio."""
    return message.model_dump(by_alias=True, exclude_none=True)
