"""`leadwire serve --workers N`: N API processes on one port, restarted when one dies, all gone
when the command stops or is killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from tests.e2e.cluster import free_port
from tests.helpers import ADMIN_TOKEN, SECRET_KEY

pytestmark = pytest.mark.slow

Serve = tuple["subprocess.Popen[bytes]", str]


def _wait(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _api_processes(serve: psutil.Process) -> list[psutil.Process]:
    """The live spawned API processes (uvicorn's multiprocessing helper and zombies aside)."""
    found = []
    for child in serve.children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "resource_tracker" not in " ".join(
                child.cmdline()
            ):
                found.append(child)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def serve(settings: Settings, clean: AppState, tmp_path: Path) -> Iterator[Serve]:
    assert settings.database_url and settings.redis_url
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "LEADWIRE_DATABASE_URL": settings.database_url,
        "LEADWIRE_REDIS_URL": settings.redis_url,
        "LEADWIRE_SECRET_KEY": SECRET_KEY,
        "LEADWIRE_ADMIN_TOKEN": ADMIN_TOKEN,
        "LEADWIRE_LOG_LEVEL": "WARNING",
    }
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "leadwire.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield process, f"http://127.0.0.1:{port}"
    if process.poll() is None:
        process.kill()
        process.wait(10)
    log.close()


def test_two_processes_share_the_port_and_a_dead_one_is_replaced(serve: Serve) -> None:
    process, url = serve
    _wait(lambda: _ready(url), 60, "the API answers /readyz")
    parent = psutil.Process(process.pid)
    _wait(lambda: len(_api_processes(parent)) == 2, 30, "two API processes")
    first, _ = _api_processes(parent)

    first.kill()
    # The other process keeps answering while uvicorn starts a replacement.
    assert _ready(url)
    _wait(
        lambda: (
            len(_api_processes(parent)) == 2
            and first.pid not in {c.pid for c in _api_processes(parent)}
        ),
        30,
        "a replacement API process",
    )
    _wait(lambda: _ready(url), 30, "the API answers after the replacement")

    children = _api_processes(parent)
    process.send_signal(signal.SIGTERM)
    assert process.wait(40) == 0
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"API processes outlived serve: {[p.pid for p in alive]}"


def test_the_processes_die_with_a_killed_serve(serve: Serve) -> None:
    process, url = serve
    _wait(lambda: _ready(url), 60, "the API answers /readyz")
    parent = psutil.Process(process.pid)
    _wait(lambda: len(_api_processes(parent)) == 2, 30, "two API processes")
    children = _api_processes(parent)
    process.kill()
    process.wait(10)
    _, alive = psutil.wait_procs(children, timeout=15)
    assert not alive, f"API processes outlived a killed serve: {[p.pid for p in alive]}"
