"""The task wrapper on a real SAQ worker and Redis: retry by class, dead letters, escalation."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import time
import uuid
from typing import Any

import pytest
from saq import Job
from saq.job import Status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import async_sessionmaker

from leadwire import worker as worker_module
from leadwire.platform import db, opsstats
from leadwire.platform.deadletters import DeadLetter
from leadwire.platform.errors import (
    ExternalServiceError,
    InvalidPayload,
    RateLimited,
    ServiceUnavailable,
)
from leadwire.platform.escalation import Escalation
from leadwire.platform.job_runner import _deadline_s, classified
from leadwire.platform.state import AppState
from tests.platform.saq_worker import running_worker, scheduled_at, wait_for_job

TENANT = str(uuid.uuid4())


async def _letters(state: AppState) -> list[DeadLetter]:
    async with state.sessions() as session:
        return list((await session.execute(select(DeadLetter))).scalars().all())


async def _escalations(state: AppState) -> list[Escalation]:
    async with state.sessions() as session:
        return list((await session.execute(select(Escalation))).scalars().all())


async def _enqueue(
    state: AppState, task: str, key: str, *, attempts: int = 0, **kwargs: Any
) -> None:
    """Enqueue as the areas do; `attempts` pretends earlier tries already failed."""
    job = Job(function=task, key=key, timeout=5, retries=3, attempts=attempts, kwargs=kwargs)
    assert await state.queues["intake"].enqueue(job) is not None


def _error_count(state: AppState, error_class: str, code: str) -> float:
    value = state.metrics.registry.get_sample_value(
        "leadwire_errors_total", {"error_class": error_class, "code": code}
    )
    return value or 0.0


async def test_validation_failure_is_dead_lettered_at_once(clean: AppState) -> None:
    runs: list[str] = []

    async def bad_data(ctx: dict[str, Any], *, tenant_id: str, lead_id: str) -> None:
        runs.append(lead_id)
        raise InvalidPayload("phone +15125550100 is not dialable", field="phone")

    before = _error_count(clean, "validation", "invalid_payload")
    async with running_worker(clean, "intake", {"test.bad": bad_data}):
        await _enqueue(clean, "test.bad", "k-bad", tenant_id=TENANT, lead_id="L1")
        job = await wait_for_job(clean, "intake", "k-bad", statuses={"failed"})
    assert runs == ["L1"]
    assert job.attempts == 1
    [letter] = await _letters(clean)
    assert (letter.task, letter.queue, letter.error_class, letter.code) == (
        "test.bad",
        "intake",
        "validation",
        "invalid_payload",
    )
    assert letter.kwargs == {"tenant_id": TENANT, "lead_id": "L1"}
    assert str(letter.tenant_id) == TENANT
    assert letter.attempts == 1
    assert letter.status == "open"
    assert "5550100" not in letter.message  # masked
    assert letter.context["job_key"] == "k-bad"
    assert letter.context["policy"] == "no_retry"
    assert [f["code"] for f in letter.context["failures"]] == ["invalid_payload"]
    assert _error_count(clean, "validation", "invalid_payload") == before + 1
    minutes = opsstats.minutes_in(opsstats.parse_window("1m"), now=time.time())
    counted = await opsstats.counts(clean.redis, opsstats.ERRORS, minutes=minutes)
    assert opsstats.totals(counted) == {"validation": 1}
    assert await _escalations(clean) == []  # the data is wrong; nobody needs waking up


@pytest.mark.parametrize(
    ("error", "low_s", "high_s"),
    [
        # temporary: 2 s x 2^0 plus up to 25 % jitter after the first failure
        (ExternalServiceError("Graph 503", provider="meta", http_status=503), 2.0, 2.5),
        # the failure's own Retry-After (5 s) is a floor under the backoff
        (ServiceUnavailable("database restarting", retry_after_s=5), 5.0, 5.0),
    ],
)
async def test_temporary_failure_is_rescheduled_with_backoff_under_the_same_key(
    clean: AppState, error: Exception, low_s: float, high_s: float
) -> None:
    async def flaky(ctx: dict[str, Any], *, lead_id: str) -> None:
        raise error

    async with running_worker(clean, "intake", {"test.flaky": flaky}):
        await _enqueue(clean, "test.flaky", "k-flaky", lead_id="L1")
        job = await wait_for_job(clean, "intake", "k-flaky", statuses={"queued"}, timeout_s=5)
        while job.attempts < 1:
            await asyncio.sleep(0.05)
            job = await wait_for_job(clean, "intake", "k-flaky", statuses={"queued"})
        run_at = await scheduled_at(clean, "intake", "k-flaky")
    failed_at = dt.datetime.fromisoformat(job.meta["failures"][0]["at"]).timestamp()
    assert run_at is not None
    assert failed_at + low_s - 0.05 <= run_at <= failed_at + high_s + 0.05
    assert job.meta["attempt"] == 1
    assert job.retries == 2  # exactly one more try allowed by the wrapper
    assert await _letters(clean) == []
    # the same key is still pending, so a duplicate enqueue collapses
    assert not await clean.queues.enqueue("intake", "test.flaky", job_key="k-flaky", lead_id="L1")


async def test_rate_limited_work_waits_for_the_reset_then_runs(clean: AppState) -> None:
    runs: list[float] = []

    async def limited(ctx: dict[str, Any], *, lead_id: str) -> str:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RateLimited("calls per minute reached", retry_after_s=1)
        return "dialed"

    async with running_worker(clean, "intake", {"test.limited": limited}):
        await _enqueue(clean, "test.limited", "k-limited", lead_id="L1")
        job = await wait_for_job(clean, "intake", "k-limited", statuses={"complete"}, timeout_s=8)
    assert job.result == "dialed"
    assert job.attempts == 2
    assert len(runs) == 2
    # delay until reset: at least the Retry-After (1 s), plus scheduling slack
    assert 1.0 <= runs[1] - runs[0] <= 3.5
    assert await _letters(clean) == []


async def test_exhausted_retries_are_dead_lettered_with_their_history(clean: AppState) -> None:
    async def down(ctx: dict[str, Any], *, lead_id: str) -> None:
        raise ConnectionRefusedError("provider unreachable")

    async with running_worker(clean, "intake", {"test.down": down}):
        # temporary allows 8 tries: pretend 7 already failed
        await _enqueue(clean, "test.down", "k-down", attempts=7, lead_id="L9")
        job = await wait_for_job(clean, "intake", "k-down", statuses={"failed"})
    assert job.attempts == 8
    [letter] = await _letters(clean)
    assert (letter.error_class, letter.code, letter.attempts) == ("temporary", "network", 8)
    assert letter.context["retryable"] is True  # retryable, but the budget is spent


async def test_system_error_escalates_when_failing_and_again_when_dead_lettered(
    clean: AppState,
) -> None:
    async def broken(ctx: dict[str, Any], *, lead_id: str) -> None:
        raise KeyError("a bug")

    async with running_worker(clean, "intake", {"test.broken": broken}):
        await _enqueue(clean, "test.broken", "k-first", lead_id="L1")
        await wait_for_job(clean, "intake", "k-first", statuses={"queued"})
        for _ in range(100):
            if await _escalations(clean):
                break
            await asyncio.sleep(0.05)
        [first] = await _escalations(clean)
        assert (first.severity, first.occurrences) == ("warning", 1)
        assert first.fingerprint == "task:test.broken:internal_error"
        # system allows 5 tries: the fifth is dead-lettered and escalated as critical
        await _enqueue(clean, "test.broken", "k-last", attempts=4, lead_id="L2")
        await wait_for_job(clean, "intake", "k-last", statuses={"failed"})
    [letter] = await _letters(clean)
    assert (letter.error_class, letter.code) == ("system", "internal_error")
    [again] = await _escalations(clean)  # same fingerprint within the window: deduplicated
    assert again.occurrences == 2
    assert again.severity == "critical"
    assert again.detail["dead_letter_id"] == str(letter.id)


async def test_business_failure_is_not_retried_and_names_the_tenant(clean: AppState) -> None:
    async def caller_id(ctx: dict[str, Any], *, tenant_id: str, lead_id: str) -> None:
        raise ExternalServiceError(
            "From is not a verified caller ID", provider="twilio", provider_code=21210
        )

    async with running_worker(clean, "intake", {"test.caller_id": caller_id}):
        await _enqueue(clean, "test.caller_id", "k-biz", tenant_id=TENANT, lead_id="L1")
        await wait_for_job(clean, "intake", "k-biz", statuses={"failed"})
        for _ in range(100):
            if await _escalations(clean):
                break
            await asyncio.sleep(0.05)
    [letter] = await _letters(clean)
    assert (letter.error_class, letter.code, letter.attempts) == ("business", "twilio.21210", 1)
    [escalation] = await _escalations(clean)
    assert str(escalation.tenant_id) == TENANT  # the tenant must fix its caller ID


async def test_a_timeout_is_classified_like_any_failure(clean: AppState) -> None:
    async def slow(ctx: dict[str, Any], *, lead_id: str) -> None:
        await asyncio.sleep(30)

    async with running_worker(clean, "intake", {"test.slow": slow}):
        job = Job(function="test.slow", key="k-slow", timeout=1, retries=1, kwargs={"lead_id": "L"})
        await clean.queues["intake"].enqueue(job)
        job_after = await wait_for_job(clean, "intake", "k-slow", statuses={"queued"}, timeout_s=5)
        while not job_after.meta.get("failures"):
            await asyncio.sleep(0.05)
            job_after = await wait_for_job(clean, "intake", "k-slow", statuses={"queued"})
    assert job_after.meta["failures"][0]["code"] == "timeout"
    assert job_after.meta["failures"][0]["class"] == "temporary"


async def test_work_is_kept_queued_when_its_dead_letter_cannot_be_written(
    clean: AppState,
) -> None:
    engine = db.create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/x", pool_size=1)
    broken = dataclasses.replace(clean, sessions=async_sessionmaker(engine))

    async def bad(ctx: dict[str, Any], *, lead_id: str) -> None:
        raise InvalidPayload("bad")

    try:
        async with running_worker(broken, "intake", {"test.bad": bad}):
            started = time.time()
            await _enqueue(clean, "test.bad", "k-kept", lead_id="L1")
            job = await wait_for_job(clean, "intake", "k-kept", statuses={"queued"})
            while job.attempts < 1:
                await asyncio.sleep(0.05)
                job = await wait_for_job(clean, "intake", "k-kept", statuses={"queued"})
            run_at = await scheduled_at(clean, "intake", "k-kept")
    finally:
        await engine.dispose()
    assert run_at is not None
    assert run_at >= started + 59  # tried again a minute later, never dropped
    assert await _letters(clean) == []


def test_every_registered_task_runs_in_the_wrapper() -> None:
    for queue, tasks in worker_module.registered_tasks().items():
        for name, fn in tasks:
            assert getattr(fn, "__wrapped__", None) is not None, (queue, name)
            assert fn.__code__ is classified("x", "y", fn).__code__, (queue, name)


async def test_called_outside_a_worker_the_wrapper_only_calls_through() -> None:
    async def fails(ctx: dict[str, Any]) -> None:
        raise InvalidPayload("x")

    with pytest.raises(InvalidPayload):
        await classified("t", "intake", fails)({})


@pytest.mark.parametrize(
    ("timeout", "deadline"), [(0, None), (None, None), (10, 9.0), (60, 59.0), (1, 0.9)]
)
def test_the_wrapper_stops_a_task_just_before_saq_would(
    timeout: int | None, deadline: float | None
) -> None:
    assert _deadline_s(timeout) == deadline


async def test_a_retried_failure_that_needs_a_human_escalates_at_once(clean: AppState) -> None:
    async def queued_too_long(ctx: dict[str, Any], *, lead_id: str) -> None:
        raise ExternalServiceError(
            "more than 24 h of calls queued", provider="twilio", provider_code=22005
        )

    async with running_worker(clean, "intake", {"test.cps": queued_too_long}):
        await _enqueue(clean, "test.cps", "k-cps", lead_id="L1")
        for _ in range(100):
            if await _escalations(clean):
                break
            await asyncio.sleep(0.05)
        run_at = await scheduled_at(clean, "intake", "k-cps")
    [escalation] = await _escalations(clean)
    assert (escalation.severity, escalation.fingerprint) == (
        "warning",
        "task:test.cps:twilio.22005",
    )
    assert escalation.detail["final"] is False
    assert run_at is not None
    assert run_at >= time.time() + 3500  # 22005: wait an hour before the next try
    assert await _letters(clean) == []


async def test_a_job_whose_worker_died_runs_again_after_its_heartbeat(clean: AppState) -> None:
    """A running job is touched by the wrapper; one that a dead worker had taken is not, so
    SAQ's sweep finds it stuck after its heartbeat (not its whole timeout) and runs it again."""
    queue = clean.queues["intake"]
    runs: list[str] = []

    async def work(ctx: dict[str, Any], *, lead_id: str) -> None:
        runs.append(lead_id)
        if lead_id == "alive":
            await asyncio.sleep(3.5)  # longer than its heartbeat: touched meanwhile

    for lead_id in ("orphan", "alive"):
        assert await clean.queues.enqueue(
            "intake", "test.work", job_key=f"k-{lead_id}", timeout_s=60, heartbeat_s=1,
            lead_id=lead_id,
        )  # fmt: skip
    # A worker takes "orphan" as SAQ's does, then dies before running it.
    orphan = await queue.dequeue()
    assert orphan is not None and orphan.key == "k-orphan"
    orphan.started = int(time.time() * 1000)
    await orphan.update(status=Status.ACTIVE)
    async with running_worker(clean, "intake", {"test.work": work}):
        await wait_for_job(clean, "intake", "k-alive", statuses={"active"})
        await asyncio.sleep(2.0)
        await clean.redis.delete(queue._sweep)  # type: ignore[attr-defined]  # the start's lock
        swept = await queue.sweep(lock=1, abort=0.5)
        assert swept == [queue.job_id("k-orphan")]  # not the job that is still running
        await wait_for_job(clean, "intake", "k-orphan", statuses={"complete"})
        await wait_for_job(clean, "intake", "k-alive", statuses={"complete"})
    assert sorted(runs) == ["alive", "orphan"]
