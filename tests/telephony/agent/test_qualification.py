"""The qualification plan and reading the caller's answers."""

from __future__ import annotations

import pytest

from leadwire.leads.enrichment import LeadFacts, Urgency
from leadwire.telephony.agent import CallContext
from leadwire.telephony.agent.qualification import (
    ADDRESS,
    BEST_TIME,
    NEED,
    URGENCY_KEY,
    Qualification,
    build_plan,
    read_answers,
    script_questions,
    time_phrase,
)


def test_script_questions_are_taken_in_order() -> None:
    script = (
        "Be warm and brief.\n"
        "- Ask: how old is the system?\n"
        "2. Do you own the home?\n"
        "Mention our 24/7 service. Is there a pet we should know about? Any gate code?"
    )
    assert script_questions(script) == (
        "How old is the system?",
        "Do you own the home?",
        "Is there a pet we should know about?",
    )


def test_the_plan_asks_need_urgency_address_script_then_best_time(context: CallContext) -> None:
    keys = [item.key for item in build_plan(context)]
    assert keys == [NEED, URGENCY_KEY, ADDRESS, "script:0", BEST_TIME]


def test_the_lead_prefills_what_it_already_said(context: CallContext) -> None:
    plan = build_plan(context)
    lead = LeadFacts(service="Plumbing", message="kitchen sink is clogged", urgency=Urgency.HIGH)
    qualification = Qualification.from_lead(plan, lead)
    assert qualification.values == {NEED: "kitchen sink is clogged", URGENCY_KEY: "high"}
    next_item = qualification.next_item()
    assert next_item is not None
    assert next_item.key == ADDRESS
    # A one-word message is not a description of the need.
    short = Qualification.from_lead(plan, LeadFacts(message="help"))
    assert NEED not in short.values


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("tomorrow morning works", "tomorrow morning"),
        ("How about Tuesday at 3 pm?", "tuesday at 3 pm"),
        ("after 5 would be best", "after 5"),
        ("this weekend", "this weekend"),
        ("any time really", "any time"),
        ("I have no idea", None),
    ],
)
def test_time_phrases(text: str, phrase: str | None) -> None:
    assert time_phrase(text) == phrase


def test_answers_fill_the_item_asked(context: CallContext) -> None:
    plan = build_plan(context)
    by_key = {item.key: item for item in plan}
    known = Qualification(plan=plan)
    assert read_answers("Today if you can", awaiting=by_key[URGENCY_KEY], known=known) == {
        URGENCY_KEY: "high"
    }
    # An answer without urgency words still answers the question.
    assert read_answers("the upstairs unit", awaiting=by_key[URGENCY_KEY], known=known) == {
        URGENCY_KEY: "medium"
    }
    assert read_answers("12 Oak Street, Austin", awaiting=by_key[ADDRESS], known=known) == {
        ADDRESS: "12 Oak Street, Austin"
    }
    assert read_answers("Friday afternoon please", awaiting=by_key[BEST_TIME], known=known) == {
        BEST_TIME: "friday afternoon"
    }


def test_volunteered_facts_are_kept(context: CallContext) -> None:
    plan = build_plan(context)
    need = plan[0]
    learned = read_answers(
        "Water is flooding the garage at 55 Elm Drive", awaiting=need, known=Qualification(plan)
    )
    assert learned[NEED].startswith("Water is flooding")
    assert learned[URGENCY_KEY] == "emergency"
    assert ADDRESS in learned
    # A mere "fix" is not a volunteered urgency.
    assert URGENCY_KEY not in read_answers("I need a fix", awaiting=need, known=Qualification(plan))
