"""The fixed lines the session speaks itself: disclosure, confirmations, goodbyes.

These are never left to a model. The opening follows compliance.md 1.7: the business's name
first, then that the call uses an automated AI voice, then how to opt out (within seconds of
the name), then the purpose. The business's callback number (64.1200(b)(2)) is said in every
closing line and in the voicemail when the context has one.
"""

from __future__ import annotations

import re

from leadwire.telephony.agent.base import CallContext

OPT_OUT_DIGIT = "9"
TRANSFER_DIGIT = "0"


def spoken_number(number: str) -> str:
    """A phone number the way TTS reads it well: +15125550100 -> "512-555-0100"."""
    digits = re.sub(r"\D", "", number)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) == 10:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"
    return " ".join(digits)


def _callback(context: CallContext) -> str:
    if not context.callback_number:
        return ""
    return f" You can reach {context.business_name} at {spoken_number(context.callback_number)}."


def disclosure(context: CallContext) -> str:
    greeting = f"Hi {context.lead.first_name}" if context.lead.first_name else "Hi"
    return (
        f"{greeting}, this is {context.business_name}. "
        "This is an automated call using an AI voice. "
        f"To stop these calls, say stop or press {OPT_OUT_DIGIT} at any time."
    )


def purpose(context: CallContext) -> str:
    service = context.lead.service
    return (
        f"I'm calling about your request for {service}."
        if service
        else ("I'm calling about the request you sent us.")
    )


def disclosure_reminder(context: CallContext) -> str:
    """Said when the opening was cut off before the caller heard all of it."""
    return (
        f"Just so you know, this is an automated AI call from {context.business_name}. "
        f"Say stop or press {OPT_OUT_DIGIT} at any time to opt out."
    )


def ai_answer(context: CallContext) -> str:
    line = f"Yes, I'm an AI assistant calling for {context.business_name}."
    if context.transfer_number:
        line += f" If you'd rather talk to a person, just say so or press {TRANSFER_DIGIT}."
    return line


def opt_out_confirmation(context: CallContext) -> str:
    return (
        f"Understood. I've added your number to {context.business_name}'s do-not-call list, "
        "and you won't receive more calls from us. Goodbye."
    )


def wrong_party_confirmation(context: CallContext) -> str:
    return (
        "I'm sorry for the trouble. I've removed this number from "
        f"{context.business_name}'s list, and you won't receive more calls from us. Goodbye."
    )


def transfer_line(context: CallContext) -> str:
    return f"Sure, I'll connect you with someone from {context.business_name} now. Please hold."


def transfer_unavailable(context: CallContext) -> str:
    return (
        "I'm sorry, I can't connect you to a person right now, but someone from "
        f"{context.business_name} will call you back."
    )


def booked(context: CallContext, slot: str) -> str:
    return (
        f"Great, I've requested a visit for {slot}. {context.business_name} will confirm the "
        f"exact time with you.{_callback(context)} Thank you, goodbye."
    )


def qualified_close(context: CallContext) -> str:
    return (
        f"No problem. {context.business_name} has your details and will follow up with you."
        f"{_callback(context)} Thank you, goodbye."
    )


def not_interested_close(context: CallContext) -> str:
    return f"Understood, thank you for your time.{_callback(context)} Goodbye."


def caller_end_close(context: CallContext) -> str:
    return f"Thank you for your time.{_callback(context)} Goodbye."


def limit_close(context: CallContext) -> str:
    return (
        f"I'm sorry, I have to wrap up this call now. {context.business_name} has your details "
        f"and will follow up.{_callback(context)} Thank you, goodbye."
    )


def voicemail_message(context: CallContext) -> str:
    greeting = f"Hi {context.lead.first_name}" if context.lead.first_name else "Hi"
    about = f" about your request for {context.lead.service}" if context.lead.service else ""
    body = context.voicemail or "Please call us back when you have a moment."
    return (
        f"{greeting}, this is {context.business_name} with an automated AI message{about}. "
        f"{body}{_callback(context)}"
    )
