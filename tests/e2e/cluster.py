"""Real processes for the dialer's end-to-end tests: `leadwire serve` and `leadwire worker`s.

They run on the test session's PostgreSQL and Redis, with the simulated carrier posting its
signed callbacks to the API's real port (`LEADWIRE_PUBLIC_URL`). Each process's output goes
to a file under the test's tmp folder, and `errors()` reads the error lines back.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import BinaryIO

import httpx

from leadwire.platform.settings import Settings
from tests.helpers import ADMIN_TOKEN, SECRET_KEY
from tests.telephony.helpers import daytime_offset_s

LEADWIRE = [sys.executable, "-m", "leadwire.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self, settings: Settings, folder: Path, **env: str) -> None:
        assert settings.database_url and settings.redis_url
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("LEADWIRE_", "TWILIO_"))}
        self.env = {
            **base,
            "LEADWIRE_DATABASE_URL": settings.database_url,
            "LEADWIRE_REDIS_URL": settings.redis_url,
            "LEADWIRE_SECRET_KEY": SECRET_KEY,
            "LEADWIRE_ADMIN_TOKEN": ADMIN_TOKEN,
            "LEADWIRE_PUBLIC_URL": self.url,
            "LEADWIRE_TELEPHONY": "simulated",
            "LEADWIRE_SIMULATOR_CLOCK_OFFSET_S": str(daytime_offset_s()),
            "LEADWIRE_LOG_LEVEL": "WARNING",
            **env,
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: list[BinaryIO] = []

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.folder / f"{name}.log").open("ab")
        self._logs.append(log)
        process = subprocess.Popen(
            [*LEADWIRE, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes[name] = process
        return process

    def start_api(self, timeout: float = 60) -> None:
        self._start("api", ["serve", "--port", str(self.port)])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the API was not ready in {timeout} s: {self.tail('api')}")

    def start_worker(
        self, name: str, *, queues: str | None = None, metrics_port: int | None = None
    ) -> subprocess.Popen[bytes]:
        args = ["worker", "--concurrency", "10"]
        if queues:
            args += ["--queues", queues]
        if metrics_port is not None:
            args += ["--metrics-port", str(metrics_port)]
        return self._start(name, args)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait(10)

    def stop(self) -> None:
        """Workers first (their callbacks still need the API), then the API."""
        workers = [p for name, p in self.processes.items() if name != "api"]
        for group in (workers, [p for name, p in self.processes.items() if name == "api"]):
            for process in group:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in group:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(10)
        for log in self._logs:
            log.close()
        self._logs.clear()

    def tail(self, name: str, lines: int = 30) -> str:
        path = self.folder / f"{name}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def errors(self) -> list[str]:
        """Error lines and tracebacks any process wrote."""
        found: list[str] = []
        for name in self.processes:
            for line in (self.folder / f"{name}.log").read_text(errors="replace").splitlines():
                if "Traceback" in line:
                    found.append(f"{name}: {line}")
                    continue
                try:
                    entry = json.loads(line)
                except ValueError:
                    continue
                if isinstance(entry, dict) and entry.get("level") in ("error", "critical"):
                    found.append(f"{name}: {line}")
        return found
