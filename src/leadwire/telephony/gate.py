"""The compliance gate as the dialer calls it: `compliance.service`.

`compliance.service.evaluate` (owned by the compliance area) gathers the lead's facts, runs
`compliance.gate.decide` and stores the decision on the lead's timeline.

The gate's clock: with the simulated carrier, `LEADWIRE_SIMULATOR_CLOCK_OFFSET_S` shifts the
instant the gate judges (calling windows, caps, consent age) so demos and tests can rehearse
daytime calling at any hour. The dialer converts the gate's `not_before` back to real time.
With Twilio the offset is always zero.
"""

from __future__ import annotations

import datetime as dt
import uuid
from types import ModuleType
from typing import Any, Literal, Protocol, cast

from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.compliance import service as compliance_service
from leadwire.compliance.decision import Decision
from leadwire.leads.models import Lead
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant

Stage = Literal["queue", "dial"]


class Evaluate(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        *,
        state: AppState,
        tenant: Tenant,
        lead: Lead,
        stage: Stage,
        now: dt.datetime,
        usage: Any = None,
        queue_paused: bool = False,
    ) -> Decision: ...


class RecordAttempt(Protocol):
    async def __call__(
        self,
        session: AsyncSession,
        *,
        tenant_id: uuid.UUID,
        lead_id: uuid.UUID,
        phone_e164: str,
        at: dt.datetime,
    ) -> None: ...


def _compliance_service() -> ModuleType:
    return compliance_service


def evaluate_fn() -> Evaluate:
    return cast(Evaluate, _compliance_service().evaluate)


def record_attempt_fn() -> RecordAttempt:
    return cast(RecordAttempt, _compliance_service().record_attempt)


def usage_facts(*, spent_usd: float, calls_today: int) -> Any:
    """`compliance.service.UsageFacts` (what the dialer's counters know at dial time)."""
    return _compliance_service().UsageFacts(spent_usd=spent_usd, calls_today=calls_today)


def clock_offset(settings: Settings) -> dt.timedelta:
    if settings.telephony != "simulated":
        return dt.timedelta(0)
    return dt.timedelta(seconds=settings.simulator_clock_offset_s)


def gate_time(settings: Settings, real: dt.datetime) -> dt.datetime:
    return real + clock_offset(settings)


def real_time(settings: Settings, gate: dt.datetime) -> dt.datetime:
    return gate - clock_offset(settings)
