"""TwiML for each moment of a call, built with twilio's `VoiceResponse` from plain data.

`agent` is the tenant's `agent` settings block (CONTRACT.md §5): `business_name`, `script`,
`transfer_number`, `voicemail`, and these optional keys read here: `language` (BCP-47,
default ``en-US``), `voice`, `tts_provider`, `transcription_provider`, `speech_model` (the
ConversationRelay voice; omitted attributes leave Twilio's defaults), `say_voice` (for the
voicemail `<Say>`), `callback_number` and `opt_out_number`.

The required identification (reference/compliance.md §1.7) is spoken before anything else, in
this order: the seller's name, that the voice is automated AI, the purpose, how to opt out
("say stop or press 9", within two seconds of the identification), and a number to call back.
The AI agent must honour the promise: a "stop" or the digit `OPT_OUT_DIGIT` records the
opt-out and ends the call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.twiml.voice_response import Connect, VoiceResponse

from leadwire.telephony.urls import relay_ended_url, relay_url

OPT_OUT_DIGIT = "9"
DEFAULT_LANGUAGE = "en-US"


def speakable_number(e164: str) -> str:
    """Digits a voice reads one by one: ``+15125550100`` -> ``5 1 2, 5 5 5, 0 1 0 0``."""
    digits = "".join(c for c in e164 if c.isdigit())
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        groups = (digits[:3], digits[3:6], digits[6:])
        return ", ".join(" ".join(group) for group in groups)
    return " ".join(digits)


def _business_name(agent: Mapping[str, Any]) -> str:
    name = str(agent.get("business_name") or "").strip()
    if not name:
        # Compliance check 12 blocks such calls before dialing; never speak an empty name.
        raise ValueError("agent.business_name is required to identify the caller")
    return name


def opening_disclosure(
    *, agent: Mapping[str, Any], callback_number: str, service: str | None = None
) -> str:
    """The welcome greeting: identity, AI disclosure, purpose, opt-out, callback number."""
    business = _business_name(agent)
    purpose = f" about your request for {service.strip()}" if service and service.strip() else ""
    return (
        f"Hello, this is {business}, calling with an automated AI assistant{purpose}. "
        f"To stop our calls, say stop or press {OPT_OUT_DIGIT} at any time. "
        f"You can reach {business} at {speakable_number(callback_number)}."
    )


def relay_twiml(
    *,
    call_id: str,
    public_base_url: str,
    agent: Mapping[str, Any],
    callback_number: str,
    service: str | None = None,
) -> str:
    """The answered call handed to the AI agent over ConversationRelay.

    The greeting is interruptible by key press only, so a "hello?" spoken over it cannot cut
    the disclosures short while the opt-out digit still works; the rest of the conversation is
    interruptible by speech or key press. `<Connect action>` is requested when the session
    ends, and its answer decides the rest of the call (transfer or hang up).
    """
    relay_attributes: dict[str, Any] = {
        "url": relay_url(public_base_url, call_id),
        "welcome_greeting": opening_disclosure(
            agent=agent, callback_number=callback_number, service=service
        ),
        "welcome_greeting_interruptible": "dtmf",
        "interruptible": "any",
        "dtmf_detection": True,
        "language": agent.get("language") or DEFAULT_LANGUAGE,
        "hints": ",".join(h for h in (_business_name(agent), service) if h),
    }
    for key in ("voice", "tts_provider", "transcription_provider", "speech_model"):
        if agent.get(key):
            relay_attributes[key] = agent[key]
    response = VoiceResponse()
    connect = Connect(action=relay_ended_url(public_base_url, call_id))
    relay = connect.conversation_relay(**relay_attributes)
    relay.parameter(name="call_id", value=call_id)
    response.append(connect)
    return str(response.to_xml())


def voicemail_message(*, agent: Mapping[str, Any], callback_number: str) -> str:
    """Identity first, the AI disclosure, the tenant's message, a callback and opt-out number."""
    business = _business_name(agent)
    opt_out_number = agent.get("opt_out_number") or callback_number
    tenant_message = str(agent.get("voicemail") or "").strip()
    parts = [
        f"Hello, this is a message from {business}, left by an automated AI assistant.",
        tenant_message,
        f"To call us back, dial {speakable_number(callback_number)}.",
        f"To stop calls from {business}, call {speakable_number(opt_out_number)} "
        "and ask to be put on our do-not-call list.",
    ]
    return " ".join(part for part in parts if part)


def voicemail_twiml(*, agent: Mapping[str, Any], callback_number: str) -> str:
    """`<Say>` the voicemail after the beep, then `<Hangup/>` (for `update_twiml`)."""
    response = VoiceResponse()
    say_attributes: dict[str, Any] = {"language": agent.get("language") or DEFAULT_LANGUAGE}
    if agent.get("say_voice"):
        say_attributes["voice"] = agent["say_voice"]
    response.say(voicemail_message(agent=agent, callback_number=callback_number), **say_attributes)
    response.hangup()
    return str(response.to_xml())


def transfer_twiml(*, number: str, caller_id: str, timeout_s: int = 30) -> str:
    """Bridge the person to the tenant's `transfer_number`, presenting the tenant's caller ID."""
    response = VoiceResponse()
    response.dial(number, caller_id=caller_id, timeout=timeout_s)
    return str(response.to_xml())


def hangup_twiml() -> str:
    """For a blocked, unknown or failed call: end it without a word."""
    response = VoiceResponse()
    response.hangup()
    return str(response.to_xml())
