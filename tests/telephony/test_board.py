"""The dial board on the real Redis: priority, fairness across tenants, slots, send times."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter

import pytest

from leadwire.platform.state import AppState
from leadwire.telephony.board import (
    Board,
    Claim,
    NoClaim,
    SlotConfig,
    lower_or_equal,
    send_interval_ms,
    ticket,
)

ROOMY = SlotConfig(standard=100, priority=120, lease_ms=600_000)
FAST = 1000.0  # calls per second: send times never hold a claim back in these tests


def make_board(state: AppState, *, cps: float = FAST, claim_lease_ms: int = 60_000) -> Board:
    return Board(state.redis, account="ACtest", cps=cps, claim_lease_ms=claim_lease_ms)


async def post(
    board: Board,
    tenant: uuid.UUID,
    priority: str,
    *,
    slots: SlotConfig = ROOMY,
    due_ms: int = 0,
) -> uuid.UUID:
    lead = uuid.uuid4()
    posted = await board.post(
        priority=priority, tenant_id=tenant, lead_id=lead, attempt=1, due_ms=due_ms, slots=slots
    )
    assert posted
    return lead


async def next_claim(board: Board) -> Claim | NoClaim:
    """Claim, sleeping through the short waits for the next send time (10 ms apart here)."""
    while True:
        result = await board.claim()
        if isinstance(result, Claim) or not 0 <= result.wait_ms <= 30:
            return result
        await asyncio.sleep(result.wait_ms / 1000 + 0.001)


async def claim(board: Board) -> Claim:
    result = await next_claim(board)
    assert isinstance(result, Claim), result
    await board.done(result.member, release_slot=True)
    return result


async def test_higher_priorities_are_claimed_first_whatever_the_order_posted(
    clean: AppState,
) -> None:
    board = make_board(clean)
    tenant = uuid.uuid4()
    order = ["low", "medium", "low", "high", "emergency", "medium", "emergency"]
    leads = {await post(board, tenant, priority): priority for priority in order}
    claimed = [(await claim(board)).priority for _ in order]
    assert claimed == ["emergency", "emergency", "high", "medium", "medium", "low", "low"]
    assert set(leads.values()) == set(claimed)
    assert isinstance(await next_claim(board), NoClaim)


async def test_tenants_take_turns_within_a_priority(clean: AppState) -> None:
    board = make_board(clean)
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    for _ in range(10):
        await post(board, busy, "medium")
    await post(board, quiet, "medium")
    first_two = {(await claim(board)).tenant_id for _ in range(2)}
    assert first_two == {busy, quiet}


async def test_one_tenants_backlog_never_starves_anothers_emergency(clean: AppState) -> None:
    board = make_board(clean)
    backlog, other = uuid.uuid4(), uuid.uuid4()
    for _ in range(50):
        await post(board, backlog, "low")
    for _ in range(3):
        await claim(board)
    emergency = await post(board, other, "emergency")
    assert (await claim(board)).lead_id == emergency


async def test_a_tenant_without_free_slots_holds_back_nobody_else(clean: AppState) -> None:
    board = make_board(clean)
    full, free = uuid.uuid4(), uuid.uuid4()
    one_slot = SlotConfig(standard=1, priority=1, lease_ms=600_000)
    await post(board, full, "emergency", slots=one_slot)
    await post(board, full, "emergency", slots=one_slot)
    low = await post(board, free, "low")
    first = await next_claim(board)
    assert isinstance(first, Claim) and first.tenant_id == full
    await board.done(first.member, release_slot=False)  # dialing: the call holds the slot
    second = await next_claim(board)
    assert isinstance(second, Claim) and second.lead_id == low
    await board.done(second.member, release_slot=False)
    assert await next_claim(board) == NoClaim(-1)  # the slot comes back with the final callback
    assert await board.release_slot(full, first.member)
    third = await next_claim(board)
    assert isinstance(third, Claim) and third.tenant_id == full


async def test_priority_calls_have_slot_headroom(clean: AppState) -> None:
    board = make_board(clean)
    tenant = uuid.uuid4()
    slots = SlotConfig(standard=2, priority=3, lease_ms=600_000)
    for _ in range(3):
        await post(board, tenant, "low", slots=slots)
    for _ in range(2):
        result = await next_claim(board)
        assert isinstance(result, Claim) and result.priority == "low"
    assert await next_claim(board) == NoClaim(-1)  # the third low waits for a slot ...
    emergency = await post(board, tenant, "emergency", slots=slots)
    result = await next_claim(board)  # ... an emergency takes the headroom slot
    assert isinstance(result, Claim) and result.lead_id == emergency
    assert await next_claim(board) == NoClaim(-1)
    assert await board.slots_in_use(tenant) == 3


async def test_a_blocked_priority_waits_and_the_rest_goes_on(clean: AppState) -> None:
    board = make_board(clean)
    limited, other = uuid.uuid4(), uuid.uuid4()
    await post(board, limited, "medium")
    await post(board, limited, "medium")
    their_low = await post(board, other, "low")
    first = await next_claim(board)
    assert isinstance(first, Claim) and first.tenant_id == limited
    await board.give_back(
        first, block_ms=300, block_priorities=lower_or_equal("medium"), release_slot=True
    )
    second = await next_claim(board)
    assert isinstance(second, Claim) and second.lead_id == their_low
    await board.done(second.member, release_slot=True)
    waiting = await next_claim(board)
    assert isinstance(waiting, NoClaim) and 0 < waiting.wait_ms <= 300
    await asyncio.sleep(waiting.wait_ms / 1000 + 0.02)
    again = await next_claim(board)
    assert isinstance(again, Claim) and again.tenant_id == limited


async def test_a_ticket_is_not_claimed_before_it_is_due(clean: AppState) -> None:
    board = make_board(clean)
    tenant = uuid.uuid4()
    await post(board, tenant, "high", due_ms=int(time.time() * 1000) + 400)
    early = await next_claim(board)
    assert isinstance(early, NoClaim) and 300 <= early.wait_ms <= 400
    await asyncio.sleep(0.42)
    assert isinstance(await next_claim(board), Claim)


async def test_posting_twice_keeps_one_ticket(clean: AppState) -> None:
    board = make_board(clean)
    tenant, lead = uuid.uuid4(), uuid.uuid4()
    for expected in (True, False):
        assert (
            await board.post(
                priority="low", tenant_id=tenant, lead_id=lead, attempt=1, due_ms=0, slots=ROOMY
            )
            is expected
        )
    assert await board.has(ticket(lead, 1))
    await claim(board)
    assert isinstance(await next_claim(board), NoClaim)
    assert not await board.has(ticket(lead, 1))


async def test_a_claim_whose_dialer_died_comes_back(clean: AppState) -> None:
    board = make_board(clean, claim_lease_ms=200)
    tenant = uuid.uuid4()
    lead = await post(board, tenant, "medium")
    first = await next_claim(board)
    assert isinstance(first, Claim)  # ... and the dialer dies without a word
    assert isinstance(await next_claim(board), NoClaim)
    await asyncio.sleep(0.25)
    again = await next_claim(board)
    assert isinstance(again, Claim) and again.lead_id == lead and again.seq > first.seq


async def _send_times(board: Board, count: int, *, late_s: float = 0.0) -> list[int]:
    """Post `count` tickets of one tenant and claim them all, each claimer waking `late_s`
    after the claim window opens; the send times the claims got."""
    tenant = uuid.uuid4()
    for _ in range(count):
        await post(board, tenant, "medium")
    sends: list[int] = []
    while len(sends) < count:
        result = await next_claim(board)
        if isinstance(result, NoClaim):
            assert result.wait_ms > 0
            await asyncio.sleep(result.wait_ms / 1000 + late_s)
            continue
        sends.append(result.send_ms)
    return sends


async def test_send_times_are_spaced_by_the_account_rate(clean: AppState) -> None:
    cps = 5.0
    sends = await _send_times(make_board(clean, cps=cps), 6)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert min(gaps) >= send_interval_ms(cps) - 1
    assert send_interval_ms(cps) > 1000 / cps  # the guard


async def test_a_late_claimer_keeps_the_pace(clean: AppState) -> None:
    """Claimers that come later than the claim window opens (a busy process) still get the
    next send time: the schedule keeps 1/cps spacing instead of sliding by each lateness."""
    cps = 10.0
    sends = await _send_times(make_board(clean, cps=cps), 6, late_s=0.04)  # 40 ms late each time
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    interval = send_interval_ms(cps)
    assert all(interval - 1 <= gap <= interval + 1 for gap in gaps), gaps


@pytest.mark.parametrize("processes", [8])
async def test_concurrent_claimers_get_every_ticket_once_in_priority_order(
    clean: AppState, processes: int
) -> None:
    board = make_board(clean)
    tenants = [uuid.uuid4() for _ in range(3)]
    posted: dict[uuid.UUID, str] = {}
    for i in range(60):
        priority = ("emergency", "high", "medium", "low")[i % 4]
        posted[await post(board, tenants[i % 3], priority)] = priority
    claims: list[Claim] = []

    async def claimer() -> None:
        while True:
            result = await next_claim(board)
            if isinstance(result, NoClaim):
                return
            claims.append(result)
            await board.done(result.member, release_slot=True)

    await asyncio.gather(*(claimer() for _ in range(processes)))
    assert Counter(c.lead_id for c in claims) == Counter(posted.keys())
    by_seq = sorted(claims, key=lambda c: c.seq)
    ranks = [("emergency", "high", "medium", "low").index(c.priority) for c in by_seq]
    assert ranks == sorted(ranks)
