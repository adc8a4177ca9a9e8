"""The qualification plan (what to learn on the call) and reading answers from the caller.

The plan is need, urgency, address, then up to three questions taken from the tenant's script
(its sentences that end in "?"), then the best time for a visit, which leads into the booking
offer. Items the lead already answered in its form are filled before the call starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from leadwire.leads.enrichment.base import LeadFacts, Urgency
from leadwire.leads.enrichment.rules import URGENCY
from leadwire.leads.enrichment.text import normalize
from leadwire.telephony.agent.base import CallContext, PlanItem

NEED = "need"
URGENCY_KEY = "urgency"
ADDRESS = "address"
BEST_TIME = "best_time"
MAX_SCRIPT_QUESTIONS = 3
MAX_ANSWER_CHARS = 200
MIN_MESSAGE_WORDS_FOR_NEED = 3

_SCRIPT_LEAD_IN = re.compile(
    r"^\s*(?:[-*\u2022\d.)]+\s*)?(?:ask(?: them| the caller)?:?\s+)?", re.I
)


def script_questions(script: str) -> tuple[str, ...]:
    """The questions a tenant's script asks, in order (sentences ending in '?')."""
    found: list[str] = []
    for match in re.finditer(r"[^.!?\n]*\?", script):
        question = _SCRIPT_LEAD_IN.sub("", match.group(0)).strip()
        if len(question) > 3 and question not in found:
            found.append(question[0].upper() + question[1:])
        if len(found) == MAX_SCRIPT_QUESTIONS:
            break
    return tuple(found)


def build_plan(context: CallContext) -> tuple[PlanItem, ...]:
    lead = context.lead
    need_question = (
        f"I see your request was about {lead.service}. "
        "Can you tell me a little about what is going on?"
        if lead.service
        else "What can we help you with?"
    )
    address_question = "What is the address where you need the service?"
    if lead.postal_code:
        address_question += f" I have your zip code as {' '.join(lead.postal_code)}."
    items = [
        PlanItem(NEED, "what the caller needs done", need_question),
        PlanItem(
            URGENCY_KEY,
            "how soon they need it",
            "How soon do you need someone: today, this week, or is there no rush?",
        ),
        PlanItem(ADDRESS, "the service address", address_question),
    ]
    items.extend(
        PlanItem(f"script:{i}", question, question)
        for i, question in enumerate(script_questions(context.script))
    )
    items.append(
        PlanItem(BEST_TIME, "the best time for a visit", "When would be a good time for a visit?")
    )
    return tuple(items)


@dataclass(slots=True)
class Qualification:
    """What the call has learned so far, keyed by plan item; skipped items stay unanswered."""

    plan: tuple[PlanItem, ...]
    values: dict[str, str] = field(default_factory=dict)
    skipped: set[str] = field(default_factory=set)

    @classmethod
    def from_lead(cls, plan: tuple[PlanItem, ...], lead: LeadFacts) -> Qualification:
        qualification = cls(plan=plan)
        if lead.message and len(lead.message.split()) >= MIN_MESSAGE_WORDS_FOR_NEED:
            qualification.values[NEED] = _clip(lead.message)
        if lead.urgency is not None and lead.urgency is not Urgency.UNKNOWN:
            qualification.values[URGENCY_KEY] = lead.urgency.value
        return qualification

    def next_item(self) -> PlanItem | None:
        for item in self.plan:
            if item.key not in self.values and item.key not in self.skipped:
                return item
        return None

    @property
    def complete(self) -> bool:
        return self.next_item() is None

    def as_dict(self) -> dict[str, Any]:
        answers = {
            item.question: self.values[item.key]
            for item in self.plan
            if item.key.startswith("script:") and item.key in self.values
        }
        data: dict[str, Any] = {
            key: self.values.get(key) for key in (NEED, URGENCY_KEY, ADDRESS, BEST_TIME)
        }
        if answers:
            data["answers"] = answers
        return data


# --- reading answers -------------------------------------------------------------------------

_DAY = r"(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend|weekday)s?"
_PART = r"(?:morning|afternoon|evening|night|noon|midday|lunch(?:time)?)"
_CLOCK = r"\d{1,2}(?:\s?\d{2})?(?:\s?(?:am|pm|a m|p m|o clock))?"
_WHEN = (
    rf"(?:(?:this|next|on|tomorrow|today|tonight)\s+)?{_DAY}(?:\s+{_PART})?"
    rf"|(?:(?:this|tomorrow|today|tonight)\s+)?{_PART}"
    rf"|tomorrow|today|tonight|next week|this week"
)
_TIME_PHRASE = re.compile(
    rf"\b(?:"
    rf"(?:{_WHEN})(?:\s+(?:at|around|after|before|by)\s+{_CLOCK})?"
    rf"|(?:at|around|after|before|by)\s+{_CLOCK}"
    rf"|right away|asap|as soon as possible|any ?time"
    rf")\b"
)
_STREET = re.compile(
    r"\b\d{1,6}\s+(?:[a-z0-9]+\s+){0,4}"
    r"(?:street|st|avenue|ave|road|rd|drive|dr|lane|ln|boulevard|blvd|way|court|ct|place|pl"
    r"|circle|cir|parkway|pkwy|highway|hwy|trail|trl|terrace|ter)\b"
)


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ANSWER_CHARS else text[: MAX_ANSWER_CHARS - 1] + "\u2026"


def time_phrase(text: str) -> str | None:
    """The first day/time expression in the caller's words ("tomorrow morning", "at 3 pm")."""
    normalized = normalize(text)
    matches = [m.group(0) for m in _TIME_PHRASE.finditer(normalized)]
    if not matches:
        return None
    return max(matches, key=len)


def street_address(text: str) -> str | None:
    match = _STREET.search(normalize(text))
    return match.group(0) if match else None


def read_answers(text: str, *, awaiting: PlanItem | None, known: Qualification) -> dict[str, str]:
    """Items the caller's words answer: the item asked, plus an urgency or street address
    volunteered along the way. Free-text items take the caller's words as they are."""
    learned: dict[str, str] = {}
    words = _clip(text.strip())
    urgency, _ = URGENCY.classify(text)
    if awaiting is not None:
        if awaiting.key == URGENCY_KEY:
            # An answer without any urgency words ("it's the upstairs unit") still answers.
            learned[URGENCY_KEY] = (urgency or Urgency.MEDIUM).value
        elif awaiting.key == BEST_TIME:
            learned[BEST_TIME] = time_phrase(text) or words
        else:  # need, address and the script's questions keep the caller's own words
            learned[awaiting.key] = words
    # Volunteered urgency only counts when it is a clear signal; "fix" or "quote" is not.
    if (
        URGENCY_KEY not in learned
        and URGENCY_KEY not in known.values
        and urgency is not None
        and urgency in (Urgency.EMERGENCY, Urgency.HIGH)
    ):
        learned[URGENCY_KEY] = urgency.value
    if ADDRESS not in learned and ADDRESS not in known.values and street_address(text):
        learned[ADDRESS] = words
    return learned
