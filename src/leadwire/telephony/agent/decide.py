"""What the session does with the caller's words: a pure decision, tested as a table.

Order matters and is the point of this module. An opt-out (or "wrong number") wins over
everything, always; a voicemail greeting is only recognized in the first words heard; then a
request for a person, "not interested", a goodbye; then booking (an explicit request, or a yes
or a time in answer to the booking offer); then a no to the offer. Anything else continues
the conversation: another offer if one is pending, else qualification.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from leadwire.telephony.agent.intents import CallerIntent


class Step(enum.StrEnum):
    OPT_OUT = "opt_out"
    WRONG_PARTY = "wrong_party"
    VOICEMAIL = "voicemail"
    TRANSFER = "transfer"
    NOT_INTERESTED = "not_interested"
    CALLER_END = "caller_end"
    BOOK = "book"  # with `slot`
    ASK_TIME = "ask_time"  # wants a visit, but no time is known yet
    DECLINE = "decline"  # no to the booking offer
    REOFFER = "reoffer"  # the answer to the offer was unclear
    QUALIFY = "qualify"


@dataclass(frozen=True, slots=True)
class Decision:
    step: Step
    slot: str | None = None


def decide(
    *,
    intents: frozenset[CallerIntent],
    first_words: bool,
    offered: bool,
    slot_named: str | None,
    slot_known: str | None,
) -> Decision:
    """The next step for one final prompt.

    `slot_named` is a time the caller just said, `slot_known` the best time learned earlier,
    `offered` whether the booking offer is pending, `first_words` whether this is the first
    thing heard on the call.
    """
    if CallerIntent.OPT_OUT in intents:
        return Decision(Step.OPT_OUT)
    if CallerIntent.WRONG_PARTY in intents:
        return Decision(Step.WRONG_PARTY)
    if CallerIntent.VOICEMAIL in intents and first_words:
        return Decision(Step.VOICEMAIL)
    if CallerIntent.TRANSFER in intents:
        return Decision(Step.TRANSFER)
    if CallerIntent.NOT_INTERESTED in intents:
        return Decision(Step.NOT_INTERESTED)
    if CallerIntent.END in intents:
        return Decision(Step.CALLER_END)
    deny = CallerIntent.DENY in intents
    wants_booking = CallerIntent.BOOK in intents or (
        offered and not deny and (CallerIntent.AFFIRM in intents or slot_named is not None)
    )
    if wants_booking:
        slot = slot_named or slot_known
        return Decision(Step.BOOK, slot=slot) if slot else Decision(Step.ASK_TIME)
    if offered and deny:
        return Decision(Step.DECLINE)
    return Decision(Step.REOFFER if offered else Step.QUALIFY)
