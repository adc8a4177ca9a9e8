"""Fixtures for the dialer: the simulated carrier wired to the in-process app, a gate clock
that reads daytime, and a SAQ job context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from leadwire.platform.state import AppState
from leadwire.telephony.providers import simulated_account_sid
from leadwire.telephony.providers.simulated import SimulatedCarrier
from tests.telephony.helpers import daytime_offset_s

TIME_SCALE = 0.01


def forget_dialer_objects(state: AppState) -> None:
    """Per-process dialer objects are built from settings; tests that change them rebuild."""
    for key in ("telephony", "telephony.board", "telephony.limits", "telephony.waiters"):
        state.services.pop(key, None)


@pytest.fixture
def daytime(state: AppState, monkeypatch: pytest.MonkeyPatch) -> float:
    """The compliance gate judges 14:00 in Atlanta, whatever the hour of the test run."""
    offset = daytime_offset_s()
    monkeypatch.setattr(state.settings, "simulator_clock_offset_s", offset)
    return offset


@pytest.fixture
async def carrier(app: Starlette, clean: AppState) -> AsyncIterator[SimulatedCarrier]:
    """The simulated carrier, posting its signed callbacks to the in-process app."""
    forget_dialer_objects(clean)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport) as http:
        simulated = SimulatedCarrier(
            redis=clean.redis,
            http=http,
            signing_token=clean.settings.twilio_signing_token,
            account_sid=simulated_account_sid(clean),
            seed="tests",
            time_scale=TIME_SCALE,
        )
        clean.services["telephony"] = simulated
        try:
            yield simulated
        finally:
            await simulated.close()
            forget_dialer_objects(clean)


@pytest.fixture
def ctx(clean: AppState) -> dict[str, Any]:
    return {"state": clean}
