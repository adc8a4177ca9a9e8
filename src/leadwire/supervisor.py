"""`leadwire up`: the whole platform in one supervisor.

Starts the embedded PostgreSQL and Valkey when no URLs are set, migrates, creates the demo
tenant on first start, then runs the API, the queue workers and the scheduler as child
processes, restarting any that crash. Ctrl-C or SIGTERM stops the children (API first, so
intake stops before the workers), then the servers; nothing is left running.

Development secrets (LEADWIRE_SECRET_KEY, LEADWIRE_ADMIN_TOKEN) are generated on first start
when unset and kept in `<data dir>/secrets.json` (mode 0600). The URLs of a running instance
are written to `<data dir>/runtime.json` so other commands (`leadwire tenants create`, ...)
find it without any environment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leadwire.platform.embedded import DataDirLock, EmbeddedServers, die_with_parent
from leadwire.platform.errors import ConfigurationError
from leadwire.platform.settings import Settings, load_settings

DEMO_SLUG = "demo"


def _say(message: str) -> None:
    print(message, flush=True)


def dev_secrets(data_dir: Path) -> dict[str, str]:
    path = data_dir / "secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    values = {
        "LEADWIRE_SECRET_KEY": secrets.token_urlsafe(48),
        "LEADWIRE_ADMIN_TOKEN": "lwadm_" + secrets.token_urlsafe(32),
    }
    path.touch(mode=0o600)
    path.write_text(json.dumps(values, indent=2))
    return values


def runtime_env(data_dir: Path) -> dict[str, str]:
    """The settings of a `leadwire up` running on `data_dir`, if one is."""
    path = data_dir / "runtime.json"
    if not path.exists():
        return {}
    try:
        values: dict[str, str] = json.loads(path.read_text())
    except ValueError:
        return {}
    pid = int(values.pop("pid", 0) or 0)
    if not pid or not _alive(pid):
        return {}
    return values


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Child:
    name: str
    argv: list[str]
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0


def child_processes(
    me: list[str], *, host: str, port: int, workers: int, metrics_port: int = 0
) -> list[Child]:
    """The API, `workers` queue workers and the scheduler.

    With a worker metrics port (LEADWIRE_WORKER_METRICS_PORT) the worker processes serve their
    own /metrics on consecutive ports from it: worker-1 on the port itself, worker-2 on the
    next, ..., the scheduler last (one port cannot serve two processes). 0 leaves them off.
    """
    if metrics_port and metrics_port + workers > 65_535:
        raise ConfigurationError(
            f"LEADWIRE_WORKER_METRICS_PORT {metrics_port}: {workers + 1} worker processes need "
            "consecutive ports up to 65535"
        )

    def metrics(offset: int) -> list[str]:
        return ["--metrics-port", str(metrics_port + offset)] if metrics_port else []

    children = [Child("api", [*me, "serve", "--host", host, "--port", str(port)])]
    for i in range(workers):
        children.append(Child(f"worker-{i + 1}", [*me, "worker", *metrics(i)]))
    children.append(
        Child("scheduler", [*me, "worker", "--queues", "maintenance", *metrics(workers)])
    )
    return children


async def _prepare(settings: Settings) -> tuple[str | None, bool]:
    """Migrate; create the demo tenant on first start. Returns (its API key, created now)."""
    from redis.asyncio import Redis

    from leadwire.platform import db
    from leadwire.platform.security import SecretBox
    from leadwire.platform.state import check_database, check_redis
    from leadwire.tenants import repository, service

    assert settings.database_url
    assert settings.redis_url
    engine = db.create_engine(settings.database_url, pool_size=2)
    redis = Redis.from_url(settings.redis_url, socket_connect_timeout=3)
    try:
        await check_database(engine, settings)
        await check_redis(redis, settings)
        await db.migrate(engine)
        sessions = db.create_sessionmaker(engine)
        async with db.session_scope(sessions) as session:
            if await repository.get_by_slug(session, DEMO_SLUG) is not None:
                return None, False
            _, key = await service.create_tenant(
                session,
                slug=DEMO_SLUG,
                name="Demo HVAC",
                plan="pro",
                settings={
                    "caller_ids": ["+15125550100"],
                    "agent": {
                        "business_name": "Demo HVAC",
                        "transfer_number": "+15125550101",
                    },
                    "sources": {"form": {"public": False, "secret": secrets.token_urlsafe(24)}},
                },
                secret_box=SecretBox(settings.fernet_key),
            )
            return key, True
    finally:
        await redis.aclose()
        await engine.dispose()


def run_up(*, host: str, port: int, data_dir: Path, workers: int) -> int:
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = DataDirLock(data_dir)
    lock.acquire()
    servers: EmbeddedServers | None = None
    children: list[Child] = []
    stopping = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        base = load_settings()
        env = dict(os.environ)
        env["LEADWIRE_DATA_DIR"] = str(data_dir)
        for key, value in dev_secrets(data_dir).items():
            env.setdefault(key, value)
        env.setdefault("LEADWIRE_PUBLIC_URL", f"http://{host}:{port}")
        if base.database_url is None or base.redis_url is None:
            started = time.monotonic()
            servers = EmbeddedServers(data_dir)
            servers.start(postgres=base.database_url is None, redis=base.redis_url is None)
            if base.database_url is None:
                env["LEADWIRE_DATABASE_URL"] = servers.postgres.url
            if base.redis_url is None:
                env["LEADWIRE_REDIS_URL"] = servers.valkey.url
            _say(f"embedded PostgreSQL and Valkey ready in {time.monotonic() - started:.1f} s")
        os.environ.update(env)
        settings = load_settings()
        demo_key, created = asyncio.run(_prepare(settings))
        runtime = {k: v for k, v in env.items() if k.startswith("LEADWIRE_")}
        (data_dir / "runtime.json").write_text(json.dumps({**runtime, "pid": os.getpid()}))
        (data_dir / "runtime.json").chmod(0o600)
        if created and demo_key:
            demo_file = data_dir / "demo-tenant.json"
            demo_file.write_text(json.dumps({"slug": DEMO_SLUG, "api_key": demo_key}, indent=2))
            demo_file.chmod(0o600)

        me = [sys.executable, "-m", "leadwire.cli"]
        children += child_processes(
            me, host=host, port=port, workers=workers, metrics_port=settings.worker_metrics_port
        )
        for child in children:
            _start(child, env)

        _say(f"Leadwire is starting on http://{host}:{port}  (data in {data_dir})")
        token = settings.admin_token.get_secret_value() if settings.admin_token else "(unset)"
        _say(f"  admin token:  {token}")
        if created and demo_key:
            _say(f"  demo tenant:  slug={DEMO_SLUG}  api_key={demo_key}  (shown once)")
        else:
            _say(f"  demo tenant:  slug={DEMO_SLUG}  (its key was printed on first start)")
        _say(f"  credentials are kept in {data_dir} (secrets.json, demo-tenant.json)")
        if settings.worker_metrics_port:
            first, last = settings.worker_metrics_port, settings.worker_metrics_port + workers
            _say(
                f"  metrics:      the API's /metrics; workers and scheduler on ports {first}-{last}"
            )
        _say(f"  telephony:    {settings.telephony}   Ctrl-C stops everything")

        while not stopping:
            time.sleep(0.2)
            for child in children:
                if stopping:
                    break
                assert child.proc is not None
                code = child.proc.poll()
                if code is None or time.monotonic() < child.next_start:
                    continue
                child.restarts += 1
                delay = min(30.0, 0.5 * 2 ** min(child.restarts, 6))
                _say(f"{child.name} exited with code {code}; restarting in {delay:.1f} s")
                child.next_start = time.monotonic() + delay
                child.proc = None
                _start_later(child, env, delay)
        return 0
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if children:
            _say("stopping: API first, then workers")
        _stop_children(children)
        if servers is not None:
            servers.stop()
        with contextlib.suppress(FileNotFoundError):
            (data_dir / "runtime.json").unlink()
        lock.release()
        if children:
            _say("stopped")


def _start(child: Child, env: dict[str, str]) -> None:
    child.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        child.argv,
        env=env,
        start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops us in order
        preexec_fn=die_with_parent,
    )


def _start_later(child: Child, env: dict[str, str], delay: float) -> None:
    # The supervisor loop is synchronous: sleep here briefly, bounded, then start.
    time.sleep(min(delay, 1.0))
    _start(child, env)


def _stop_children(children: list[Child], grace_s: float = 25.0) -> None:
    order = [c for c in children if c.name == "api"] + [c for c in children if c.name != "api"]
    for group in (order[:1], order[1:]):
        for child in group:
            if child.proc is not None and child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for child in group:
            if child.proc is None:
                continue
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.kill()
                child.proc.wait(5)
