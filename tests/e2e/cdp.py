"""Headless Chromium driven over the Chrome DevTools Protocol, with `websockets` only.

Enough of CDP for a browser test: open a page, type, click (real mouse events at the
element's centre), evaluate JavaScript, wait for a condition, take a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


class CdpError(RuntimeError):
    pass


class Page:
    """One page target over its own websocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.console: list[str] = []
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self._ws:
            message = json.loads(raw)
            if "id" in message:
                future = self._waiting.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
            elif message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.console.append(f"exception: {details.get('text')} {details.get('exception')}")
            elif message.get("method") == "Runtime.consoleAPICalled":
                args = message["params"]["args"]
                self.console.append(" ".join(str(a.get("value", a.get("type"))) for a in args))

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        await self._ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        message = await asyncio.wait_for(future, 30)
        if "error" in message:
            raise CdpError(f"{method}: {message['error']}")
        result: dict[str, Any] = message.get("result", {})
        return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise CdpError(f"{expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, *, timeout_s: float = 15.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {expression!r}; console: {self.console[-5:]}"
                )
            await asyncio.sleep(0.1)

    async def goto(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")

    async def click(self, selector: str) -> None:
        found = f"document.querySelector({json.dumps(selector)}).getBoundingClientRect()"
        box = await self.evaluate(
            f"(() => {{ const r = {found};"
            " return {x: r.left + r.width / 2, y: r.top + r.height / 2, w: r.width}; })()"
        )
        if not box or not box["w"]:
            raise AssertionError(f"{selector} is not visible")
        for kind in ("mousePressed", "mouseReleased"):
            await self.send(
                "Input.dispatchMouseEvent",
                type=kind,
                x=box["x"],
                y=box["y"],
                button="left",
                clickCount=1,
            )

    async def type(self, selector: str, text: str) -> None:
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", text=text)

    async def text(self, selector: str) -> str:
        value = await self.evaluate(f"document.querySelector({json.dumps(selector)}).textContent")
        return str(value)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        data = base64.b64decode(shot["data"])

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

        await asyncio.to_thread(write)

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self._ws.close()


@contextlib.asynccontextmanager
async def chromium_page(
    binary: str, *, width: int = 1400, height: int = 1100
) -> AsyncIterator[Page]:
    """A headless Chromium with one blank page; both gone when the block ends."""
    profile = tempfile.mkdtemp(prefix="leadwire-chromium-")
    log_path = Path(profile) / "chromium.log"
    log = log_path.open("wb")
    process = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, never awaited
        [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--remote-debugging-port=0",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    page: Page | None = None
    try:
        port = await _devtools_port(process, log_path)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            targets = (await http.get("/json/list")).json()
        [target] = [t for t in targets if t["type"] == "page"]
        ws = await connect(target["webSocketDebuggerUrl"], max_size=64 * 1024 * 1024)
        page = Page(ws)
        await page.send("Page.enable")
        await page.send("Runtime.enable")
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )
        yield page
    finally:
        if page is not None:
            await page.close()
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    """Chromium prints `DevTools listening on ws://127.0.0.1:<port>/...` on stderr."""
    deadline = time.monotonic() + 30
    text = ""
    while time.monotonic() < deadline:
        text = await asyncio.to_thread(log_path.read_text, errors="replace")
        match = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", text)
        if match:
            return int(match.group(1))
        if process.poll() is not None:
            break
        await asyncio.sleep(0.05)
    raise CdpError("chromium did not start: " + text[-2000:])
