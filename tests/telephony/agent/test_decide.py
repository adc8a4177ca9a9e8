"""The session's decision for the caller's words, as a table; opt-out always wins."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.telephony.agent.decide import Decision, Step, decide
from leadwire.telephony.agent.intents import CallerIntent as I


def run(
    *intents: I,
    first_words: bool = False,
    offered: bool = False,
    named: str | None = None,
    known: str | None = None,
) -> Decision:
    return decide(
        intents=frozenset(intents),
        first_words=first_words,
        offered=offered,
        slot_named=named,
        slot_known=known,
    )


@pytest.mark.parametrize(
    ("decision", "expected"),
    [
        (run(I.OPT_OUT, I.TRANSFER, I.BOOK), Decision(Step.OPT_OUT)),
        (run(I.WRONG_PARTY, I.VOICEMAIL, first_words=True), Decision(Step.WRONG_PARTY)),
        (run(I.VOICEMAIL, first_words=True), Decision(Step.VOICEMAIL)),
        (run(I.VOICEMAIL), Decision(Step.QUALIFY)),  # only the first words can be a greeting
        (run(I.TRANSFER, I.NOT_INTERESTED), Decision(Step.TRANSFER)),
        (run(I.NOT_INTERESTED, I.END), Decision(Step.NOT_INTERESTED)),
        (run(I.END), Decision(Step.CALLER_END)),
        (run(I.BOOK, named="friday"), Decision(Step.BOOK, slot="friday")),
        (run(I.BOOK, known="monday"), Decision(Step.BOOK, slot="monday")),
        (run(I.BOOK, named="friday", known="monday"), Decision(Step.BOOK, slot="friday")),
        (run(I.BOOK), Decision(Step.ASK_TIME)),
        (run(I.AFFIRM, offered=True, known="monday"), Decision(Step.BOOK, slot="monday")),
        (run(offered=True, named="tuesday"), Decision(Step.BOOK, slot="tuesday")),
        (run(I.AFFIRM, offered=True), Decision(Step.ASK_TIME)),
        (run(I.AFFIRM, known="monday"), Decision(Step.QUALIFY)),  # a yes to a question
        (run(I.DENY, offered=True, named="today"), Decision(Step.DECLINE)),  # "no, not today"
        (run(I.DENY, offered=True), Decision(Step.DECLINE)),
        (run(I.DENY), Decision(Step.QUALIFY)),
        (run(I.REPEAT, offered=True), Decision(Step.REOFFER)),
        (run(I.ASKS_IF_AI), Decision(Step.QUALIFY)),
    ],
)
def test_decision_table(decision: Decision, expected: Decision) -> None:
    assert decision == expected


@given(
    others=st.frozensets(st.sampled_from(I)),
    first_words=st.booleans(),
    offered=st.booleans(),
    named=st.one_of(st.none(), st.just("tomorrow")),
    known=st.one_of(st.none(), st.just("friday")),
)
def test_an_opt_out_always_wins(
    others: frozenset[I], first_words: bool, offered: bool, named: str | None, known: str | None
) -> None:
    decision = decide(
        intents=others | {I.OPT_OUT},
        first_words=first_words,
        offered=offered,
        slot_named=named,
        slot_known=known,
    )
    assert decision.step is Step.OPT_OUT
