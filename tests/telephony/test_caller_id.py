import pytest
from hypothesis import given
from hypothesis import strategies as st

from leadwire.telephony.caller_id import area_code, choose_caller_id, state_of

AUSTIN = "+15124441234"  # 512, Texas
AUSTIN_2 = "+15124449876"
HOUSTON = "+17135550100"  # 713, Texas
MANHATTAN = "+12125550100"  # 212, New York
SAN_FRANCISCO = "+14155550100"  # 415, California
PENSACOLA = "+18504341234"  # 850, Florida


@pytest.mark.parametrize(
    ("number", "npa", "state"),
    [
        (AUSTIN, "512", "TX"),
        ("+15125550100", "512", "TX"),  # known only at the area-code level: "Texas"
        (HOUSTON, "713", "TX"),
        (MANHATTAN, "212", "NY"),
        (PENSACOLA, "850", "FL"),
        ("+18005550100", "800", None),  # toll-free: no state
        ("+442071838750", None, None),  # not NANP
        ("not a number", None, None),
    ],
)
def test_area_code_and_state(number: str, npa: str | None, state: str | None) -> None:
    assert area_code(number) == npa
    assert state_of(number) == state


@pytest.mark.parametrize(
    ("callee", "caller_ids", "expected"),
    [
        (AUSTIN, [MANHATTAN, HOUSTON, AUSTIN_2], AUSTIN_2),  # same area code first
        (AUSTIN, [MANHATTAN, HOUSTON], HOUSTON),  # then the same state
        ("+15125550100", [SAN_FRANCISCO, HOUSTON], HOUSTON),
        (PENSACOLA, [AUSTIN], AUSTIN),  # then any
        (AUSTIN, ["garbage", "+1512"], None),  # unusable numbers are skipped
        (AUSTIN, [], None),
    ],
)
def test_choice(callee: str, caller_ids: list[str], expected: str | None) -> None:
    assert choose_caller_id(callee=callee, caller_ids=caller_ids) == expected


_NUMBERS = [AUSTIN, AUSTIN_2, HOUSTON, MANHATTAN, SAN_FRANCISCO, PENSACOLA, "+13055550100"]


@given(
    callee=st.sampled_from(_NUMBERS),
    caller_ids=st.lists(st.sampled_from(_NUMBERS), min_size=1),
    data=st.data(),
)
def test_the_choice_is_deterministic_and_ignores_list_order(
    callee: str, caller_ids: list[str], data: st.DataObject
) -> None:
    chosen = choose_caller_id(callee=callee, caller_ids=caller_ids)
    shuffled = data.draw(st.permutations(caller_ids))
    assert chosen == choose_caller_id(callee=callee, caller_ids=shuffled)
    assert chosen in caller_ids
    if area_code(callee) in {area_code(c) for c in caller_ids}:
        assert area_code(chosen or "") == area_code(callee)


def test_ties_spread_over_callees_but_stay_fixed_per_callee() -> None:
    caller_ids = [MANHATTAN, SAN_FRANCISCO, PENSACOLA]
    callees = [f"+1303555{n:04d}" for n in range(40)]  # Colorado: no local candidate
    choices = [choose_caller_id(callee=c, caller_ids=caller_ids) for c in callees]
    assert set(choices) == set(caller_ids)
    assert choices == [choose_caller_id(callee=c, caller_ids=caller_ids) for c in callees]
