"""Leads tests: every test starts with an empty tenant cache and a healthy Redis breaker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from leadwire.leads import tenancy
from leadwire.leads.abuse import forget_leases, redis_health


@pytest.fixture(autouse=True)
def _fresh_intake_process_state() -> Iterator[None]:
    tenancy.forget()
    redis_health.reset()
    forget_leases()
    yield
    tenancy.forget()
    redis_health.reset()
