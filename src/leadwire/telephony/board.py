"""The dial board: which due attempt is dialed next, across priorities and tenants.

SAQ serves one queue per priority, but its workers take jobs from every queue at once, so
SAQ alone cannot promise that an emergency lead goes before a low one when capacity is short.
The board decides instead. It lives in Redis and every decision is one Lua script, so any
number of worker processes share it as if they were one:

* A `dialer.dial` job, at the lead's due time, *posts* a ticket (lead, attempt) to the board:
  one sorted set per (priority, tenant), scored by when the ticket is due. The route step posts
  an attempt due within seconds itself, ahead of its time; its "posted" (eligible) time is then
  its due time.
* Any dialer then *claims* the best ticket: priorities in order (emergency, high, medium,
  low); within a priority the tenants take turns (a round-robin set scored by when each was
  last served), so one tenant's backlog never starves another tenant at the same or a higher
  priority. A tenant is skipped while it cannot take a call: its concurrency slots are full,
  or it was marked blocked (its rate window or budget refused a moment ago). A skipped tenant
  holds back nobody else, and the first ticket of the next tenant or priority is taken.
* The claim takes, in the same script, the two capacities that must follow the board's order:
  a concurrency *slot* of the tenant (a lease scored by its expiry, released by the call's
  final callback, reclaimed when the lease expires) and the account's next *send time*
  (calls per second to the carrier). Nobody can claim before the next send time is within
  `PREP_MS`, so claims, and therefore calls, follow the board's order: a higher-priority
  ticket posted now is claimed before any lower one at the next send time. A claimer that
  comes late (its process was busy) still gets that next send time, with `MIN_PREP_MS` to
  spare at the least: late wake-ups do not slide the schedule, so the account keeps its pace.
* Rate windows (per minute/hour/day, with priority headroom) and the budget are taken after
  the claim (`telephony.limits`, the `limits` library); a refusal puts the ticket back where
  it was and marks the tenant blocked for that priority and the lower ones until the window
  frees up. It is not an error and not an attempt.
* A claim is itself a lease: a dialer that dies holding one gives the ticket back when the
  lease expires (checked by every claim).

Send times are spaced by ``1/cps`` plus a 10 % guard, and a dialer sends only within 50 ms of
its reserved time (later, it reserves a new time), so the carrier never sees more than `cps`
calls in any second even with scheduling jitter (see `send_interval_ms`).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from leadwire.platform.queues import DIAL_QUEUES

PREFIX = "leadwire:dial:"
PRIORITY_CLASS = frozenset({"emergency", "high"})  # the priorities with headroom
CLAIM_LEASE_MS = 60_000
PREP_MS = 150  # time a claimer has to prepare the attempt before its send time
MIN_PREP_MS = 20  # ... at the least, when it claims late (the schedule does not slide)

_POST = """
local P = ARGV[1]
local prio, tenant, member = ARGV[2], ARGV[3], ARGV[4]
redis.call('HSET', P..'cfg:'..tenant, 'slots_std', ARGV[6], 'slots_pri', ARGV[7],
           'slot_lease_ms', ARGV[8])
if redis.call('HEXISTS', P..'tickets', member) == 1 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', P..'tickets', member, prio..'|'..tenant)
redis.call('HSET', P..'posted', member, math.max(now, tonumber(ARGV[5])))
redis.call('ZADD', P..'q:'..prio..':'..tenant, math.max(tonumber(ARGV[5]), 0), member)
if not redis.call('ZSCORE', P..'rr:'..prio, tenant) then
  redis.call('ZADD', P..'rr:'..prio, tonumber(redis.call('GET', P..'rrseq') or '0'), tenant)
end
return 1
"""

# Returns {1, prio, tenant, member, posted_ms, now_ms, send_ms, seq} or {0, wait_ms}
# (wait_ms -1: nothing will become claimable by itself; a post or a slot release wakes us).
_CLAIM = """
local P = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function enqueue_tenant(prio, tenant)
  if not redis.call('ZSCORE', P..'rr:'..prio, tenant) then
    redis.call('ZADD', P..'rr:'..prio, tonumber(redis.call('GET', P..'rrseq') or '0'), tenant)
  end
end
local expired = redis.call('ZRANGEBYSCORE', P..'claimed', '-inf', now, 'LIMIT', 0, 50)
for _, m in ipairs(expired) do
  redis.call('ZREM', P..'claimed', m)
  local info = redis.call('HGET', P..'tickets', m)
  if info then
    local sep = string.find(info, '|', 1, true)
    local prio, tenant = string.sub(info, 1, sep - 1), string.sub(info, sep + 1)
    redis.call('ZADD', P..'q:'..prio..':'..tenant, now, m)
    enqueue_tenant(prio, tenant)
  end
end
local interval, prep = tonumber(ARGV[3]), tonumber(ARGV[4])
local last = tonumber(redis.call('GET', P..'cps:'..ARGV[2]) or '0')
local due = last + interval
if due > now + prep then return {0, due - prep - now} end
-- A claimer a little late still takes the next slot (with the least preparation time ahead):
-- a late wake-up must not push every later send back by its lateness.
local send = math.max(due, now + MIN_PREP_MS)
local wait = -1
local function consider(w) if wait < 0 or w < wait then wait = w end end
for i = 6, #ARGV do
  local prio = ARGV[i]
  local pri = (prio == 'emergency' or prio == 'high')
  local tenants = redis.call('ZRANGE', P..'rr:'..prio, 0, -1)
  for _, tenant in ipairs(tenants) do
    local q = P..'q:'..prio..':'..tenant
    if redis.call('ZCARD', q) == 0 then
      redis.call('ZREM', P..'rr:'..prio, tenant)
    else
      local blocked = redis.call('PTTL', P..'blocked:'..tenant..':'..prio)
      if blocked > 0 then
        consider(blocked)
      else
        local first = redis.call('ZRANGEBYSCORE', q, '-inf', now, 'LIMIT', 0, 1)
        if #first == 0 then
          local head = redis.call('ZRANGE', q, 0, 0, 'WITHSCORES')
          consider(tonumber(head[2]) - now)
        else
          local member = first[1]
          local cfg = P..'cfg:'..tenant
          local limit = tonumber(redis.call('HGET', cfg, pri and 'slots_pri' or 'slots_std') or '1')
          local lease = tonumber(redis.call('HGET', cfg, 'slot_lease_ms') or '900000')
          local slots = P..'slots:'..tenant
          redis.call('ZREMRANGEBYSCORE', slots, '-inf', now)
          if redis.call('ZSCORE', slots, member) or redis.call('ZCARD', slots) < limit then
            redis.call('ZREM', q, member)
            if redis.call('ZCARD', q) == 0 then
              redis.call('ZREM', P..'rr:'..prio, tenant)
            else
              redis.call('ZADD', P..'rr:'..prio, redis.call('INCR', P..'rrseq'), tenant)
            end
            redis.call('ZADD', slots, now + lease, member)
            redis.call('SADD', P..'slot_tenants', tenant)
            redis.call('SET', P..'cps:'..ARGV[2], send)
            local seq = redis.call('INCR', P..'seq')
            redis.call('ZADD', P..'claimed', now + tonumber(ARGV[5]), member)
            local posted = redis.call('HGET', P..'posted', member) or tostring(now)
            return {1, prio, tenant, member, tostring(posted), tostring(now), tostring(send), seq}
          end
        end
      end
    end
  end
end
return {0, wait}
""".replace("MIN_PREP_MS", str(MIN_PREP_MS))

# Give a claimed ticket back: due again after ARGV[3] ms; optionally free its slot and block
# the tenant for the listed priorities during ARGV[4] ms.
_UNCLAIM = """
local P, member = ARGV[1], ARGV[2]
local info = redis.call('HGET', P..'tickets', member)
redis.call('ZREM', P..'claimed', member)
if not info then return 0 end
local sep = string.find(info, '|', 1, true)
local prio, tenant = string.sub(info, 1, sep - 1), string.sub(info, sep + 1)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', P..'q:'..prio..':'..tenant, now + tonumber(ARGV[3]), member)
if not redis.call('ZSCORE', P..'rr:'..prio, tenant) then
  redis.call('ZADD', P..'rr:'..prio, tonumber(redis.call('GET', P..'rrseq') or '0'), tenant)
end
if ARGV[5] == '1' then redis.call('ZREM', P..'slots:'..tenant, member) end
local block = tonumber(ARGV[4])
if block > 0 then
  for i = 6, #ARGV do
    redis.call('SET', P..'blocked:'..tenant..':'..ARGV[i], '1', 'PX', block)
  end
end
return 1
"""

# Take a ticket off the board for good (dialed, or dropped); optionally free its slot.
_DONE = """
local P, member = ARGV[1], ARGV[2]
local info = redis.call('HGET', P..'tickets', member)
redis.call('ZREM', P..'claimed', member)
redis.call('HDEL', P..'tickets', member)
redis.call('HDEL', P..'posted', member)
if info then
  local sep = string.find(info, '|', 1, true)
  local prio, tenant = string.sub(info, 1, sep - 1), string.sub(info, sep + 1)
  redis.call('ZREM', P..'q:'..prio..':'..tenant, member)
  if ARGV[3] == '1' then redis.call('ZREM', P..'slots:'..tenant, member) end
end
return info and 1 or 0
"""

# A fresh send time for a dialer that missed its own (ARGV[4] ms of preparation left).
_RESERVE_SEND = """
local P = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local last = tonumber(redis.call('GET', P..'cps:'..ARGV[2]) or '0')
local send = math.max(now + tonumber(ARGV[4]), last + tonumber(ARGV[3]))
redis.call('SET', P..'cps:'..ARGV[2], send)
return {tostring(send), tostring(now)}
"""


def ticket(lead_id: uuid.UUID | str, attempt: int) -> str:
    """The board's member for one attempt of one lead."""
    return f"{lead_id}:{attempt}"


SEND_GUARD = 0.1  # send times are spaced 10 % wider than 1/cps
SEND_TOLERANCE_MS = 50.0  # a send later than this past its time takes a new time


def send_interval_ms(cps: float) -> float:
    """Spacing of send times: 1/cps plus the guard (see the module docstring).

    Sends leave within `SEND_TOLERANCE_MS` of their times, so any cps + 1 consecutive sends
    span at least ``cps * interval - tolerance = 1 s + 100 ms - 50 ms``: never more than cps
    calls in any second, at any rate.
    """
    return 1000.0 / cps * (1 + SEND_GUARD)


def lower_or_equal(priority: str) -> tuple[str, ...]:
    """`priority` and every priority after it (what a tenant-wide refusal blocks)."""
    return DIAL_QUEUES[DIAL_QUEUES.index(priority) :]


@dataclass(frozen=True, slots=True)
class SlotConfig:
    """A tenant's concurrency slots for ordinary and priority (emergency/high) calls."""

    standard: int
    priority: int
    lease_ms: int


@dataclass(frozen=True, slots=True)
class Claim:
    priority: str
    tenant_id: uuid.UUID
    lead_id: uuid.UUID
    attempt: int
    posted_ms: int
    claimed_ms: int
    send_ms: int
    seq: int

    @property
    def member(self) -> str:
        return ticket(self.lead_id, self.attempt)


@dataclass(frozen=True, slots=True)
class NoClaim:
    """Nothing claimable now; `wait_ms` until something may be (-1: until a post or release)."""

    wait_ms: int


class Board:
    def __init__(
        self,
        redis: Redis,
        *,
        account: str,
        cps: float,
        prefix: str = PREFIX,
        claim_lease_ms: int = CLAIM_LEASE_MS,
    ) -> None:
        self.redis = redis
        self.account = account
        self.interval_ms = send_interval_ms(cps)
        self.tolerance_ms = SEND_TOLERANCE_MS
        self.prefix = prefix
        self.claim_lease_ms = claim_lease_ms
        self._post = redis.register_script(_POST)
        self._claim = redis.register_script(_CLAIM)
        self._unclaim = redis.register_script(_UNCLAIM)
        self._done = redis.register_script(_DONE)
        self._reserve = redis.register_script(_RESERVE_SEND)

    async def post(
        self,
        *,
        priority: str,
        tenant_id: uuid.UUID,
        lead_id: uuid.UUID,
        attempt: int,
        due_ms: int,
        slots: SlotConfig,
    ) -> bool:
        """Make an attempt eligible from `due_ms`; False if it is already on the board."""
        result = await self._post(
            args=[
                self.prefix,
                priority,
                str(tenant_id),
                ticket(lead_id, attempt),
                due_ms,
                slots.standard,
                slots.priority,
                slots.lease_ms,
            ]
        )
        return bool(result)

    async def claim(self) -> Claim | NoClaim:
        raw: list[Any] = await self._claim(
            args=[
                self.prefix,
                self.account,
                round(self.interval_ms),
                PREP_MS,
                self.claim_lease_ms,
                *DIAL_QUEUES,
            ]
        )
        if int(raw[0]) == 0:
            return NoClaim(int(raw[1]))
        member = _text(raw[3])
        lead, attempt = member.rsplit(":", 1)
        return Claim(
            priority=_text(raw[1]),
            tenant_id=uuid.UUID(_text(raw[2])),
            lead_id=uuid.UUID(lead),
            attempt=int(attempt),
            posted_ms=int(float(_text(raw[4]))),
            claimed_ms=int(_text(raw[5])),
            send_ms=int(float(_text(raw[6]))),
            seq=int(raw[7]),
        )

    async def give_back(
        self,
        claim: Claim,
        *,
        delay_ms: int = 0,
        block_ms: int = 0,
        block_priorities: tuple[str, ...] = (),
        release_slot: bool = True,
    ) -> None:
        """Put a claimed ticket back (limited: not an error, not an attempt)."""
        await self._unclaim(
            args=[
                self.prefix,
                claim.member,
                max(0, delay_ms),
                max(0, block_ms),
                "1" if release_slot else "0",
                *block_priorities,
            ]
        )

    async def done(self, member: str, *, release_slot: bool) -> None:
        """The ticket is settled: the attempt is recorded (keep the slot) or dropped (free it)."""
        await self._done(args=[self.prefix, member, "1" if release_slot else "0"])

    async def release_slot(self, tenant_id: uuid.UUID, member: str) -> bool:
        removed = await self.redis.zrem(f"{self.prefix}slots:{tenant_id}", member)
        return bool(removed)

    async def reserve_send(self, *, prep_ms: int = MIN_PREP_MS) -> int:
        raw: list[Any] = await self._reserve(
            args=[self.prefix, self.account, round(self.interval_ms), prep_ms]
        )
        return int(float(_text(raw[0])))

    async def has(self, member: str) -> bool:
        return bool(await self.redis.hexists(f"{self.prefix}tickets", member))  # type: ignore[misc]

    async def pending(self) -> int:
        """Tickets on the board or claimed."""
        return int(await self.redis.hlen(f"{self.prefix}tickets"))  # type: ignore[misc]

    async def slots_in_use(self, tenant_id: uuid.UUID) -> int:
        key = f"{self.prefix}slots:{tenant_id}"
        await self.redis.zremrangebyscore(key, "-inf", int(time.time() * 1000))
        return int(await self.redis.zcard(key))

    async def reclaim_slots(self) -> int:
        """Drop expired slot leases of every tenant (the claim also does it per tenant)."""
        now_ms = int(time.time() * 1000)
        removed = 0
        tenants = await self.redis.smembers(f"{self.prefix}slot_tenants")  # type: ignore[misc]
        for raw in tenants:
            tenant = _text(raw)
            key = f"{self.prefix}slots:{tenant}"
            removed += int(await self.redis.zremrangebyscore(key, "-inf", now_ms))
            if await self.redis.zcard(key) == 0:
                await self.redis.srem(f"{self.prefix}slot_tenants", tenant)  # type: ignore[misc]
        return removed


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
