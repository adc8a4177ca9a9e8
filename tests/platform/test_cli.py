"""The `leadwire` command as a user runs it: real processes, real servers, real signals."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest

from leadwire.platform.settings import Settings

pytestmark = pytest.mark.slow

LEADWIRE = [sys.executable, "-m", "leadwire.cli"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEADWIRE_", "TWILIO_"))}
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(
    args: list[str], env: dict[str, str], timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*LEADWIRE, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.mark.parametrize(
    "command", [["serve"], ["worker"], ["migrate"], ["up", "--data-dir", "lw"]]
)
def test_unreachable_database_exits_fast_with_one_line(
    command: list[str], settings: Settings, tmp_path: Path
) -> None:
    assert settings.redis_url
    env = _env(
        LEADWIRE_DATABASE_URL="postgresql+asyncpg://nobody@127.0.0.1:1/x",
        LEADWIRE_REDIS_URL=settings.redis_url,
        LEADWIRE_SECRET_KEY="s" * 40,
    )
    started = time.monotonic()
    result = subprocess.run(
        [*LEADWIRE, *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0
    assert elapsed < 10, elapsed
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "leadwire: PostgreSQL at LEADWIRE_DATABASE_URL (127.0.0.1:1/x) cannot be reached"
    )


def test_unreachable_redis_names_redis(settings: Settings, tmp_path: Path) -> None:
    assert settings.database_url
    env = _env(
        LEADWIRE_DATABASE_URL=settings.database_url,
        LEADWIRE_REDIS_URL="redis://127.0.0.1:1/0",
        LEADWIRE_SECRET_KEY="s" * 40,
    )
    result = subprocess.run(
        [*LEADWIRE, "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith(
        "leadwire: Redis at LEADWIRE_REDIS_URL (127.0.0.1:1) cannot be reached"
    )


def test_a_worker_metrics_port_that_is_taken_stops_the_worker_with_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    assert settings.database_url and settings.redis_url
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = _env(
            LEADWIRE_DATABASE_URL=settings.database_url,
            LEADWIRE_REDIS_URL=settings.redis_url,
            LEADWIRE_SECRET_KEY="s" * 40,
            LEADWIRE_WORKER_METRICS_PORT=str(port),
        )
        result = _run(["worker"], env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"leadwire: LEADWIRE_WORKER_METRICS_PORT: cannot listen on 127.0.0.1:{port}: "
        "Address already in use"
    )


def test_malformed_and_missing_settings_are_one_line(tmp_path: Path) -> None:
    bad = subprocess.run(
        [*LEADWIRE, "serve"],
        env=_env(LEADWIRE_PUBLIC_URL="ftp://x"),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr == "leadwire: LEADWIRE_PUBLIC_URL: must be an http(s) URL\n"
    missing = subprocess.run(
        [*LEADWIRE, "worker"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert missing.returncode == 2
    assert missing.stderr == "leadwire: LEADWIRE_DATABASE_URL is not set\n"


async def test_schema_behind_is_refused_until_migrate(settings: Settings, tmp_path: Path) -> None:
    assert settings.database_url
    assert settings.redis_url
    name = f"behind_{uuid.uuid4().hex[:8]}"
    admin_dsn = settings.database_url.replace("+asyncpg", "")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    url = settings.database_url.replace(
        f"/{settings.database_url.split('/')[3].split('?')[0]}", f"/{name}", 1
    )
    env = _env(
        LEADWIRE_DATABASE_URL=url,
        LEADWIRE_REDIS_URL=settings.redis_url,
        LEADWIRE_SECRET_KEY="s" * 40,
    )
    try:
        refused = subprocess.run(
            [*LEADWIRE, "serve"],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
            cwd=tmp_path,
            check=False,
        )
        assert refused.returncode == 2
        assert "database schema is behind" in refused.stderr
        assert "run `leadwire migrate`" in refused.stderr
        migrated = subprocess.run(
            [*LEADWIRE, "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
            check=False,
        )
        assert migrated.returncode == 0, migrated.stderr
        from leadwire.platform.db import script_heads

        assert migrated.stdout.strip() == f"database at {', '.join(sorted(script_heads()))}"
    finally:
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


# ---- leadwire up ---------------------------------------------------------------------------


class Up:
    def __init__(self, data_dir: Path, port: int) -> None:
        self.data_dir = data_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        with (self.data_dir.parent / "up.log").open("a") as log:
            self.proc = subprocess.Popen(
                [*LEADWIRE, "up", "--data-dir", str(self.data_dir), "--port", str(self.port)],
                env=_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.data_dir.parent,
            )

    def wait_ready(self, timeout: float) -> float:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"leadwire up exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"not ready within {timeout} s")

    def tree(self) -> list[psutil.Process]:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).children(recursive=True)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(60)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    instance = Up(tmp_path / "lw-data", _free_port())
    try:
        yield instance
    finally:
        instance.stop(signal.SIGKILL)


def _gone(processes: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    _, alive = psutil.wait_procs(processes, timeout=timeout)
    return alive


def test_up_serves_refuses_a_second_instance_and_stops_clean(up: Up) -> None:
    up.start()
    up.wait_ready(120)
    children = up.tree()
    names = " ".join(" ".join(p.cmdline()) for p in children)
    assert "valkey-server" in names
    assert "postgres" in names
    assert "leadwire.cli serve" in names
    assert "leadwire.cli worker" in names

    second = subprocess.run(
        [*LEADWIRE, "up", "--data-dir", str(up.data_dir), "--port", str(_free_port())],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert second.returncode == 2
    assert "already running on data folder" in second.stderr

    created = subprocess.run(
        [*LEADWIRE, "tenants", "create", "--slug", "cli-made", "--plan", "pro", "--json"],
        env=_env(LEADWIRE_DATA_DIR=str(up.data_dir)),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    tenant = json.loads(created.stdout)
    assert tenant["slug"] == "cli-made"
    assert tenant["api_key"].startswith("lw_")
    assert (
        httpx.get(
            f"{up.url}/v1/settings", headers={"Authorization": f"Bearer {tenant['api_key']}"}
        ).status_code
        == 200
    )

    up.stop(signal.SIGTERM)
    assert up.proc is not None
    assert up.proc.returncode == 0
    assert _gone(children, 10) == []


def test_up_keeps_data_across_restarts_and_survives_kill_9(up: Up) -> None:
    up.start()
    up.wait_ready(120)
    secrets = json.loads((up.data_dir / "secrets.json").read_text())
    admin = {"Authorization": f"Bearer {secrets['LEADWIRE_ADMIN_TOKEN']}"}
    made = httpx.post(f"{up.url}/v1/admin/tenants", json={"slug": "kept"}, headers=admin)
    assert made.status_code == 201
    children = up.tree()
    up.stop(signal.SIGKILL)  # the supervisor dies without cleaning up ...
    assert _gone(children, 15) == []  # ... and every child follows it (parent-death signal)

    up.start()
    second_start = up.wait_ready(60)
    print(f"second start ready in {second_start:.1f} s")
    # The target is 15 s on a quiet machine (measured in the README); the suite shares two
    # cores with itself, so the bound here leaves room for that noise.
    assert second_start < 30, second_start
    slugs = {
        t["slug"] for t in httpx.get(f"{up.url}/v1/admin/tenants", headers=admin).json()["tenants"]
    }
    assert slugs == {"demo", "kept"}
    up.stop(signal.SIGINT)
    assert up.proc is not None
    assert up.proc.returncode == 0
