"""Emergency mode set through the API stops dialing on two worker processes within one second
(measured), holds the work, and expires by itself at its duration.

Each worker process runs the dial-step stand-in of `tests/e2e/dial_probe.py` under the real
job wrapper, on the real PostgreSQL and Redis; the switch goes through the admin API.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from tests.e2e import dial_probe
from tests.helpers import SECRET_KEY, admin_headers

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
STOP_WITHIN_S = 1.0

pytestmark = pytest.mark.slow


@pytest.fixture
def worker_processes(
    settings: Settings, clean: AppState, tmp_path: Path
) -> Iterator[list[subprocess.Popen[bytes]]]:
    assert settings.database_url and settings.redis_url
    env = {
        **os.environ,
        "LEADWIRE_DATABASE_URL": settings.database_url,
        "LEADWIRE_REDIS_URL": settings.redis_url,
        "LEADWIRE_SECRET_KEY": SECRET_KEY,
        "LEADWIRE_LOG_LEVEL": "WARNING",
    }
    logs = [(tmp_path / f"worker-{i}.log").open("wb") for i in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.dial_probe"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        for log in logs
    ]
    try:
        yield processes
    finally:
        for log in logs:
            log.close()
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _wait_ready(state: AppState, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    want = {str(p.pid) for p in processes}
    while time.monotonic() < deadline:
        ready = {m.decode() for m in await state.redis.smembers(dial_probe.READY_KEY)}  # type: ignore[misc]
        if want <= ready:
            return
        for process in processes:
            if process.poll() is not None:
                raise AssertionError(f"worker process {process.pid} died; see its log")
        await asyncio.sleep(0.1)
    raise AssertionError("worker processes did not start within 60 s")


@contextlib.asynccontextmanager
async def _producing(state: AppState, every_s: float = 0.01) -> AsyncIterator[None]:
    """Enqueue a dial job every `every_s` seconds while the block runs."""
    counter = itertools.count()

    async def produce() -> None:
        while True:
            n = next(counter)
            await state.queues.enqueue(
                dial_probe.QUEUE,
                dial_probe.TASK,
                job_key=f"probe:{n}",
                lead_id=f"lead-{n}",
                received_at=time.time(),
            )
            await asyncio.sleep(every_s)

    task = asyncio.create_task(produce())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _entries(state: AppState, key: str) -> list[tuple[int, float]]:
    raw = await state.redis.lrange(key, 0, -1)  # type: ignore[misc]
    out = []
    for item in raw:
        pid, at, _ = item.decode().split(" ", 2)
        out.append((int(pid), float(at)))
    return out


async def _wait_for(condition: object, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_emergency_stops_two_worker_processes_within_a_second_and_expires(
    client: httpx.AsyncClient,
    clean: AppState,
    worker_processes: list[subprocess.Popen[bytes]],
) -> None:
    await _wait_ready(clean, worker_processes)
    pids = {p.pid for p in worker_processes}

    async def both_dialing() -> bool:
        return {pid for pid, _ in await _entries(clean, dial_probe.DIALS_KEY)} == pids

    async with _producing(clean):
        await _wait_for(both_dialing, 20, "both worker processes to dial")
        switched_at = time.time()
        response = await client.put(
            "/v1/admin/emergency",
            json={"reason": "e2e: carrier incident", "duration_s": 3},
            headers=admin_headers(),
        )
        answered_at = time.time()
        assert response.status_code == 200
        until = response.json()["until"]

        async def both_holding() -> bool:
            held = await _entries(clean, dial_probe.HELD_KEY)
            return {pid for pid, at in held if at > answered_at} == pids

        # both processes keep taking jobs and hold them: they are alive, just not dialing
        await _wait_for(both_holding, 5, "both worker processes to hold work")
        dials = await _entries(clean, dial_probe.DIALS_KEY)
        last_dial = {pid: max(at for p, at in dials if p == pid) for pid in pids}
        stop_latency = {pid: max(0.0, at - switched_at) for pid, at in last_dial.items()}
        assert max(stop_latency.values()) <= STOP_WITHIN_S, stop_latency

        # it expires by itself: dialing resumes at `until` without anyone switching it off
        expires_at = switched_at + 3

        async def resumed() -> bool:
            return any(
                at > expires_at - 0.5 for _, at in await _entries(clean, dial_probe.DIALS_KEY)
            )

        await _wait_for(resumed, 8, "dialing to resume after the emergency expired")
    dials = await _entries(clean, dial_probe.DIALS_KEY)
    after = sorted(at for _, at in dials if at > switched_at)
    first_after_expiry = min(at for at in after if at >= expires_at - 0.5)
    # no dial between the stop and the expiry, apart from ones already in flight at the switch
    assert all(at <= switched_at + STOP_WITHIN_S or at >= expires_at - 0.5 for at in after)
    resume_delay = first_after_expiry - expires_at
    assert -0.5 <= resume_delay <= 2.0, resume_delay
    emergency = (await client.get("/v1/admin/emergency", headers=admin_headers())).json()
    assert emergency == {"active": False}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "emergency-stop-latency.json").write_text(
        json.dumps(
            {
                "workers": len(pids),
                "api_answer_s": round(answered_at - switched_at, 4),
                "stop_latency_s": {str(k): round(v, 4) for k, v in stop_latency.items()},
                "until": until,
                "resume_after_expiry_s": round(resume_delay, 4),
            },
            indent=2,
        )
    )
