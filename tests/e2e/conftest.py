"""Fixtures for the end-to-end tests: a cluster of real processes on the test's servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from tests.e2e.cluster import Cluster


@pytest.fixture
def cluster(
    settings: Settings, clean: AppState, tmp_path: Path
) -> Iterator[Callable[..., Cluster]]:
    """`cluster(**env)` builds a cluster (stopped at the end of the test)."""
    made: list[Cluster] = []

    def build(**env: str) -> Cluster:
        instance = Cluster(settings, tmp_path, **env)
        made.append(instance)
        return instance

    try:
        yield build
    finally:
        for instance in made:
            instance.stop()
