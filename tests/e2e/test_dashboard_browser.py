"""The dashboard in headless Chromium: log in with a token, switch emergency mode on, see
dialing stop on the page and in the simulated carrier, switch it off, see dialing resume.

Real processes: `leadwire serve` (which serves the page) and two `leadwire worker`s running
the real dialer with the simulated carrier, on the test's PostgreSQL and Redis, with
dialable leads arriving all along. Chromium (Debian's `chromium`, installed by `make test`)
is driven over the DevTools Protocol. Screenshots go to `test-artifacts/`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from leadwire.platform.state import AppState
from tests.e2e.cdp import Page, chromium_page, find_chromium
from tests.e2e.cluster import Cluster
from tests.e2e.feed import placed_at, steady_leads
from tests.helpers import admin_headers
from tests.telephony.helpers import dial_tenant

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = find_chromium()
DIALS = "Number(document.getElementById('dials-hour').textContent)"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no Chromium: `make test` installs Debian's chromium package; it could not here",
    ),
]


async def _counter(page: Page) -> int:
    return int(await page.text("#dials-hour"))


async def _snapshots(page: Page) -> int:
    return int(await page.evaluate("Number(document.body.dataset.snapshots || 0)"))


async def test_dashboard_switches_emergency_mode_and_shows_dialing_stop_and_resume(
    clean: AppState, cluster: Callable[..., Cluster]
) -> None:
    assert CHROMIUM is not None
    tenant = await dial_tenant(clean)
    nodes = cluster(LEADWIRE_TWILIO_CPS="50", LEADWIRE_SIMULATOR_TIME_SCALE="0.02")
    nodes.start_api()
    nodes.start_worker("worker-1")
    nodes.start_worker("worker-2")
    async with httpx.AsyncClient(base_url=nodes.url) as http:
        created = await http.post(
            "/v1/admin/tokens",
            json={"name": "browser-oncall", "scope": "operate"},
            headers=admin_headers(),
        )
    token = created.json()["token"]

    async with (
        steady_leads(clean, tenant, every_s=0.25),
        chromium_page(CHROMIUM) as page,
    ):
        await page.goto(f"{nodes.url}/admin")
        assert await page.evaluate("!document.getElementById('login').classList.contains('hidden')")
        await page.type("#token", token)
        await page.click("#login-button")
        await page.wait_for("document.getElementById('stream-status').textContent === 'live'")
        await page.wait_for("Number(document.body.dataset.snapshots || 0) >= 1")
        stored = await page.evaluate("sessionStorage.getItem('leadwire_admin_token')")
        assert stored == token
        assert await page.evaluate("localStorage.length") == 0

        # dialing runs: the page's dial counter moves, and the carrier places the calls
        await page.wait_for(f"{DIALS} > 0", timeout_s=60)
        first = await _counter(page)
        await page.wait_for(f"{DIALS} > {first}")
        assert await page.evaluate("document.body.dataset.emergency") == "off"
        assert await placed_at(clean)

        # switch emergency mode on from the page
        await page.type("#emergency-reason", "browser test: carrier incident")
        await page.click("#emergency-on")
        await page.wait_for("document.body.dataset.emergency === 'on'", timeout_s=5)
        on_at = time.time()  # the PUT was answered before the page showed it
        assert await page.evaluate("document.getElementById('banner').classList.contains('on')")
        assert "carrier incident" in await page.text("#banner-reason")
        # in-flight dials settle within a second; after that nothing moves, on the page or at
        # the carrier, while leads keep arriving
        await asyncio.sleep(1.5)
        stopped = await _counter(page)
        seen = await _snapshots(page)
        placed = len(await placed_at(clean))
        await asyncio.sleep(3)
        assert await _snapshots(page) >= seen + 2, "the page stopped receiving updates"
        assert await _counter(page) == stopped, "dials went on during emergency mode"
        calls = await placed_at(clean)
        assert len(calls) == placed, "the carrier placed calls during emergency mode"
        assert all(at <= on_at + 1.0 for at, _ in calls)
        await page.screenshot(ARTIFACTS / "dashboard-emergency-on.png")

        # switch it off: dialing resumes, on the page and at the carrier
        await page.click("#emergency-off")
        await page.wait_for("document.body.dataset.emergency === 'off'", timeout_s=5)
        off_at = time.time()
        assert not await page.evaluate("document.getElementById('banner').classList.contains('on')")
        await page.wait_for(f"{DIALS} > {stopped}", timeout_s=15)
        assert any(at > off_at - 1.0 for at, _ in await placed_at(clean))
        await page.screenshot(ARTIFACTS / "dashboard-resumed.png")
        assert not [line for line in page.console if line.startswith("exception")], page.console

    async with httpx.AsyncClient(base_url=nodes.url) as http:
        audit = (await http.get("/v1/admin/audit", headers=admin_headers())).json()["entries"]
    actions = [(e["action"], e["actor"]) for e in audit if e["action"].startswith("emergency")]
    assert actions == [
        ("emergency.off", "token:browser-oncall"),
        ("emergency.on", "token:browser-oncall"),
    ]
    assert (ARTIFACTS / "dashboard-emergency-on.png").stat().st_size > 10_000
    assert nodes.errors() == []


async def test_a_refused_token_sends_the_page_back_to_the_login(
    cluster: Callable[..., Cluster],
) -> None:
    assert CHROMIUM is not None
    nodes = cluster()
    nodes.start_api()
    async with chromium_page(CHROMIUM) as page:
        await page.goto(f"{nodes.url}/admin")
        await page.type("#token", "lwa_not-a-real-token")
        await page.click("#login-button")
        await page.wait_for("document.getElementById('login-msg').textContent.length > 0")
        assert await page.text("#login-msg") == "The token was refused."
        assert await page.evaluate("sessionStorage.getItem('leadwire_admin_token')") is None
