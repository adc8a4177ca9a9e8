"""The dashboard in headless Chromium: log in with a token, switch emergency mode on, see
dialing stop on the page and at the dial step, switch it off, see dialing resume.

The page is served by the real app (uvicorn on a local port) over the real PostgreSQL and
Redis; dials come from a SAQ worker running the dial-step stand-in (`dial_probe`) under the
real job wrapper, since the dialer and the simulated carrier are not part of this build yet.
Chromium (Debian's `chromium`, installed by `make test`) is driven over the DevTools
Protocol. Screenshots go to `test-artifacts/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from leadwire.app import create_app
from leadwire.platform.settings import Settings
from leadwire.platform.state import AppState
from tests.e2e import dial_probe
from tests.e2e.cdp import Page, chromium_page, find_chromium
from tests.helpers import admin_headers
from tests.platform.saq_worker import running_worker

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = find_chromium()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: `make test` installs Debian's chromium package; it could not here",
    ),
]


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # pytest owns the signals
        yield


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
async def served(settings: Settings, clean: AppState) -> AsyncIterator[str]:
    """The app on a real local port, sharing the test's state."""
    port = _free_port()
    config = uvicorn.Config(
        create_app(settings, state=clean),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


@contextlib.asynccontextmanager
async def _dialing(state: AppState) -> AsyncIterator[None]:
    """A worker serving dials and a lead arriving every 100 ms."""
    counter = itertools.count()

    async def produce() -> None:
        while True:
            n = next(counter)
            await state.queues.enqueue(
                dial_probe.QUEUE,
                dial_probe.TASK,
                job_key=f"browser:{n}",
                lead_id=f"lead-{n}",
                received_at=time.time(),
            )
            await asyncio.sleep(0.1)

    async with running_worker(state, dial_probe.QUEUE, {dial_probe.TASK: dial_probe.dial}):
        task = asyncio.create_task(produce())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _counter(page: Page) -> int:
    return int(await page.text("#dials-hour"))


async def _snapshots(page: Page) -> int:
    return int(await page.evaluate("Number(document.body.dataset.snapshots || 0)"))


async def _dial_times(state: AppState) -> list[float]:
    raw = await state.redis.lrange(dial_probe.DIALS_KEY, 0, -1)  # type: ignore[misc]
    return [float(item.decode().split(" ")[1]) for item in raw]


async def test_dashboard_switches_emergency_mode_and_shows_dialing_stop_and_resume(
    served: str, clean: AppState
) -> None:
    assert CHROMIUM is not None
    async with httpx.AsyncClient(base_url=served) as http:
        created = await http.post(
            "/v1/admin/tokens",
            json={"name": "browser-oncall", "scope": "operate"},
            headers=admin_headers(),
        )
    token = created.json()["token"]

    async with _dialing(clean), chromium_page(CHROMIUM) as page:
        await page.goto(f"{served}/admin")
        assert await page.evaluate("!document.getElementById('login').classList.contains('hidden')")
        await page.type("#token", token)
        await page.click("#login-button")
        await page.wait_for("document.getElementById('stream-status').textContent === 'live'")
        await page.wait_for("Number(document.body.dataset.snapshots || 0) >= 1")
        stored = await page.evaluate("sessionStorage.getItem('leadwire_admin_token')")
        assert stored == token
        assert await page.evaluate("localStorage.length") == 0

        # dialing runs: the page's dial counter moves
        first = await _counter(page)
        await page.wait_for(f"Number(document.getElementById('dials-hour').textContent) > {first}")
        assert await page.evaluate("document.body.dataset.emergency") == "off"

        # switch emergency mode on from the page
        await page.type("#emergency-reason", "browser test: carrier incident")
        await page.click("#emergency-on")
        switched_at = time.time()
        await page.wait_for("document.body.dataset.emergency === 'on'", timeout_s=5)
        assert await page.evaluate("document.getElementById('banner').classList.contains('on')")
        assert "carrier incident" in await page.text("#banner-reason")
        # in-flight dials settle within a second; after that the counter must not move
        await asyncio.sleep(1.5)
        stopped = await _counter(page)
        seen = await _snapshots(page)
        await asyncio.sleep(3)
        assert await _snapshots(page) >= seen + 2, "the page stopped receiving updates"
        assert await _counter(page) == stopped, "dials went on during emergency mode"
        assert all(at <= switched_at + 1.0 for at in await _dial_times(clean))
        await page.screenshot(ARTIFACTS / "dashboard-emergency-on.png")

        # switch it off: dialing resumes and the page shows it
        await page.click("#emergency-off")
        await page.wait_for("document.body.dataset.emergency === 'off'", timeout_s=5)
        assert not await page.evaluate("document.getElementById('banner').classList.contains('on')")
        await page.wait_for(
            f"Number(document.getElementById('dials-hour').textContent) > {stopped}",
            timeout_s=10,
        )
        await page.screenshot(ARTIFACTS / "dashboard-resumed.png")
        assert not [line for line in page.console if line.startswith("exception")], page.console

    async with httpx.AsyncClient(base_url=served) as http:
        audit = (await http.get("/v1/admin/audit", headers=admin_headers())).json()["entries"]
    actions = [(e["action"], e["actor"]) for e in audit if e["action"].startswith("emergency")]
    assert actions == [
        ("emergency.off", "token:browser-oncall"),
        ("emergency.on", "token:browser-oncall"),
    ]
    assert (ARTIFACTS / "dashboard-emergency-on.png").stat().st_size > 10_000


async def test_a_refused_token_sends_the_page_back_to_the_login(served: str) -> None:
    assert CHROMIUM is not None
    async with chromium_page(CHROMIUM) as page:
        await page.goto(f"{served}/admin")
        await page.type("#token", "lwa_not-a-real-token")
        await page.click("#login-button")
        await page.wait_for("document.getElementById('login-msg').textContent.length > 0")
        assert await page.text("#login-msg") == "The token was refused."
        assert await page.evaluate("sessionStorage.getItem('leadwire_admin_token')") is None
