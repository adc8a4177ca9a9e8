"""Fixtures for the chaos tests: clusters of real processes, stopped without blocking the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from tests.e2e.cluster import Cluster


@pytest.fixture
async def cluster(
    settings: Settings, clean: AppState, tmp_path: Path
) -> AsyncIterator[Callable[..., Cluster]]:
    """`cluster(**env)` builds a cluster on the session's servers (stopped after the test);
    `env` overrides any variable, e.g. `LEADWIRE_REDIS_URL` for a Redis of the test's own.

    Calls are short (the carrier plays them at 5 % of real time) and the account may place
    50 calls a second: these tests are about failures, not pacing, and at Twilio's default of
    one call a second 40 leads would take 40 s to dial. Stopped from a thread, so that a proxy
    or a fake served from the test's event loop keeps answering while the processes drain.
    """
    made: list[Cluster] = []

    def build(**env: str) -> Cluster:
        env = {"LEADWIRE_SIMULATOR_TIME_SCALE": "0.05", "LEADWIRE_TWILIO_CPS": "50", **env}
        instance = Cluster(settings, tmp_path, **env)
        made.append(instance)
        return instance

    try:
        yield build
    finally:
        for instance in made:
            await asyncio.to_thread(instance.stop)
