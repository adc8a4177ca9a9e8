"""Operators' switches: emergency mode, queue pauses, tenant pauses, simulator overrides.

Emergency mode and queue pauses are `platform.flags` rows in PostgreSQL (they survive restarts
and a Redis wipe; the dial step reads them in its own transaction, so every worker sees a
switch at its next dial). An emergency with a duration expires by itself: `read_flags`
ignores it once `until` has passed, with no process needed to switch it off.

A tenant pause is the tenant row's `paused_until` / `pause_reason`. A pause without an end is
stored as `INDEFINITE` (9999-12-31 UTC), so every reader's `paused_until > now` test holds
without a second flag; views show it as `"until": null, "indefinite": true`.

Hanging up active calls and the simulator's number overrides belong to telephony, which may
not be installed yet: they are imported when used, and their absence is reported, not hidden.
"""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import logging
from types import ModuleType
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.platform import flags
from leadwire.platform.db import session_scope, utcnow
from leadwire.platform.errors import InvalidPayload, LeadwireError
from leadwire.platform.queues import DIAL_QUEUES
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from leadwire.tenants.service import require_tenant

log = logging.getLogger("leadwire.admin")

INDEFINITE = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
ALL_QUEUES = "all"


class TelephonyUnavailable(LeadwireError):
    """What telephony must do is not possible here (not simulated, or not built yet)."""

    status_code = 501
    code = "simulator_unavailable"


def optional_module(name: str) -> ModuleType | None:
    """`name` imported, or None when that module itself does not exist (yet)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name or (exc.name and name.startswith(exc.name + ".")):
            return None
        raise


# ---- emergency --------------------------------------------------------------------------------


def emergency_view(emergency: flags.Emergency | None) -> dict[str, Any]:
    if emergency is None:
        return {"active": False}
    return emergency.to_json()


async def read_emergency(session: AsyncSession) -> dict[str, Any]:
    return emergency_view((await flags.read_flags(session)).emergency)


async def hangup_active_calls(state: AppState) -> dict[str, Any]:
    """Ask telephony to hang up every live call, in a transaction of its own.

    Runs after the emergency is committed, so a failure here never undoes the switch.
    """
    module = optional_module("leadwire.telephony.service")
    hangup = getattr(module, "hangup_active_calls", None) if module else None
    if hangup is None:
        return {"requested": True, "status": "unavailable", "hung_up": None}
    try:
        async with session_scope(state.sessions) as session:
            count = await hangup(session, state=state, tenant_id=None)
    except Exception as exc:
        log.error("hanging up active calls failed", extra={"error": repr(exc)})
        return {"requested": True, "status": "failed", "hung_up": None, "error": type(exc).__name__}
    return {"requested": True, "status": "done", "hung_up": int(count)}


# ---- queue pauses -------------------------------------------------------------------------------


def queue_target(priority: str | None) -> str:
    if priority is None:
        return ALL_QUEUES
    if priority not in DIAL_QUEUES:
        raise InvalidPayload(f"priority must be one of {', '.join(DIAL_QUEUES)}", field="priority")
    return priority


async def paused_queues(session: AsyncSession) -> dict[str, dict[str, Any]]:
    return (await flags.read_flags(session)).paused_queues


def queues_view(paused: dict[str, dict[str, Any]]) -> dict[str, Any]:
    everything = ALL_QUEUES in paused
    return {
        "paused": sorted(paused),
        "queues": {q: {"paused": everything or q in paused} for q in DIAL_QUEUES},
    }


# ---- tenant pauses ------------------------------------------------------------------------------


def tenant_pause_view(tenant: Tenant, *, now: dt.datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    until = tenant.paused_until
    paused = until is not None and until > now
    indefinite = paused and until is not None and until >= INDEFINITE
    return {
        "slug": tenant.slug,
        "paused": paused,
        "until": until.isoformat() if paused and until and not indefinite else None,
        "indefinite": indefinite,
        "reason": tenant.pause_reason if paused else None,
    }


async def pause_tenant(
    session: AsyncSession, *, slug: str, reason: str, until: dt.datetime | None
) -> Tenant:
    now = utcnow()
    if until is not None and until <= now:
        raise InvalidPayload("until must be in the future", field="until")
    tenant = await require_tenant(session, slug)
    tenant.paused_until = until or INDEFINITE
    tenant.pause_reason = reason
    await session.flush()
    return tenant


async def resume_tenant(session: AsyncSession, *, slug: str) -> Tenant:
    tenant = await require_tenant(session, slug)
    tenant.paused_until = None
    tenant.pause_reason = None
    await session.flush()
    return tenant


async def paused_tenants(session: AsyncSession) -> list[dict[str, Any]]:
    now = utcnow()
    rows = (
        (
            await session.execute(
                select(Tenant).where(Tenant.paused_until > now).order_by(Tenant.slug)
            )
        )
        .scalars()
        .all()
    )
    return [tenant_pause_view(t, now=now) for t in rows]


# ---- simulated carrier --------------------------------------------------------------------------


async def set_simulator_override(
    state: AppState,
    *,
    e164: str,
    outcome: str,
    duration_s: int | None,
    error_code: int | None,
) -> Any:
    """Fix what the simulated carrier does for one number (telephony.simulator)."""
    if state.settings.telephony != "simulated":
        raise TelephonyUnavailable(
            "the simulated carrier is not in use (LEADWIRE_TELEPHONY=twilio)",
            code="simulator_not_active",
        )
    module = optional_module("leadwire.telephony.simulator")
    set_override = getattr(module, "set_override", None) if module else None
    if set_override is None:
        raise TelephonyUnavailable(
            "the simulated carrier is not part of this build yet (telephony.simulator)"
        )
    result = set_override(
        state, e164=e164, outcome=outcome, duration_s=duration_s, error_code=error_code
    )
    if inspect.isawaitable(result):
        result = await result
    return result
