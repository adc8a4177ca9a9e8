"""The `leadwire` command (CONTRACT.md section 2).

Failures a user can fix (a missing setting, a server that cannot be reached, a schema behind)
print one line to stderr and exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from leadwire.compliance.cli import add_commands as add_compliance_commands
from leadwire.platform.embedded import EmbeddedError
from leadwire.platform.errors import ConfigurationError, LeadwireError
from leadwire.platform.observability import configure_logging
from leadwire.platform.settings import Settings, load_settings


def _fail(message: str) -> int:
    print(f"leadwire: {message}", file=sys.stderr, flush=True)
    return 2


def _settings_for_commands(data_dir: str | None = None) -> Settings:
    """Settings from the environment, filling unset URLs from a running `leadwire up`."""
    from leadwire.supervisor import runtime_env

    settings = load_settings()
    folder = Path(data_dir) if data_dir else settings.data_dir
    if settings.database_url is None or settings.redis_url is None:
        found = runtime_env(folder.resolve())
        for key, value in found.items():
            os.environ.setdefault(key, value)
        settings = load_settings()
    if settings.database_url is None:
        raise ConfigurationError(
            f"LEADWIRE_DATABASE_URL is not set and no `leadwire up` is running on {folder}"
        )
    return settings


async def _preflight(settings: Settings) -> None:
    from leadwire.platform.state import open_state

    async with open_state(settings):
        pass


def cmd_up(args: argparse.Namespace) -> int:
    from leadwire.supervisor import run_up

    configure_logging(load_settings().log_level)
    data_dir = Path(args.data_dir) if args.data_dir else load_settings().data_dir
    return run_up(host=args.host, port=args.port, data_dir=data_dir, workers=args.workers)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from leadwire.app import SERVE_PID_ENV, create_app

    settings = load_settings()
    configure_logging(settings.log_level)
    settings.require("database_url", "redis_url", "secret_key")
    asyncio.run(_preflight(settings))
    workers = args.workers or settings.api_workers
    options: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "log_config": None,
        "access_log": False,
        "lifespan": "on",
        "timeout_graceful_shutdown": 20,
        "backlog": 2048,
    }
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
    else:
        # Several processes accept on one listening socket; uvicorn's supervisor restarts any
        # that dies. Each builds its own app (its own pools) from the environment, and checks
        # that this process is still its parent (see `app_from_environment`).
        os.environ[SERVE_PID_ENV] = str(os.getpid())
        uvicorn.run("leadwire.app:app_from_environment", factory=True, workers=workers, **options)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from leadwire.worker import run_worker

    settings = load_settings()
    configure_logging(settings.log_level)
    settings.require("database_url", "redis_url", "secret_key")
    queues = args.queues.split(",") if args.queues else None
    kwargs: dict[str, Any] = {"concurrency": args.concurrency}
    if args.metrics_port is not None:
        if not 0 <= args.metrics_port <= 65_535:
            return _fail("--metrics-port must be 0..65535 (0: off)")
        kwargs["metrics_port"] = args.metrics_port
    if queues:
        from leadwire.platform.queues import QUEUE_NAMES

        unknown = [q for q in queues if q not in QUEUE_NAMES]
        if unknown:
            return _fail(f"unknown queue {unknown[0]!r}; queues are {', '.join(QUEUE_NAMES)}")
        kwargs["queues"] = queues
    else:
        from leadwire.worker import ROLES

        kwargs["queues"] = ROLES[args.role]
    # uvloop (uvicorn's loop too): a worker spends most of its time in socket I/O and in
    # callbacks, both of which it runs in C.
    import uvloop

    uvloop.run(run_worker(settings, **kwargs))
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from leadwire.platform import db
    from leadwire.platform.state import check_servers

    settings = _settings_for_commands()
    assert settings.database_url

    async def go() -> None:
        from redis.asyncio import Redis

        engine = db.create_engine(settings.database_url or "", pool_size=1)
        try:
            if settings.redis_url:
                redis = Redis.from_url(settings.redis_url, socket_connect_timeout=3)
                try:
                    await check_servers(engine, redis, settings)
                finally:
                    await redis.aclose()
            await db.migrate(engine)
            _, have, _ = await db.schema_is_current(engine)
            print(f"database at {', '.join(sorted(have))}")
        finally:
            await engine.dispose()

    asyncio.run(go())
    return 0


def cmd_tenants_create(args: argparse.Namespace) -> int:
    from leadwire.platform import db
    from leadwire.platform.security import SecretBox
    from leadwire.platform.state import check_schema
    from leadwire.tenants import service

    settings = _settings_for_commands()
    settings.require("secret_key")

    async def go() -> dict[str, Any]:
        engine = db.create_engine(settings.database_url or "", pool_size=1)
        try:
            await check_schema(engine)
            async with db.session_scope(db.create_sessionmaker(engine)) as session:
                tenant, key = await service.create_tenant(
                    session,
                    slug=args.slug,
                    name=args.name,
                    plan=args.plan,
                    secret_box=SecretBox(settings.fernet_key),
                )
                return {**service.tenant_view(tenant), "api_key": key}
        finally:
            await engine.dispose()

    result = asyncio.run(go())
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"tenant {result['slug']} ({result['plan']}) created")
        print(f"api key (shown once): {result['api_key']}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from leadwire.simulate.run import dumps, main_report

    configure_logging("WARNING")
    report = main_report(
        leads=args.leads,
        tenants_n=args.tenants,
        seed=args.seed,
        time_scale=args.time_scale,
        workers=args.workers,
        timeout_s=args.timeout,
        show_progress=not args.quiet,
        real_clock=args.real_clock,
        cps=args.cps,
    )
    if args.json:
        print(dumps(report))
    else:
        print(f"leads {report['leads']['acknowledged']} acknowledged, lost {report['lost']}")
        print(f"final states {report['final_states']}")
        print(f"speed to lead {report['speed_to_lead_s']}")
    return 0 if report["lost"] == 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leadwire", description="Leadwire lead-to-call platform")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="API + workers + scheduler (embedded servers by default)")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--data-dir", default=None, help="default .leadwire (LEADWIRE_DATA_DIR)")
    up.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    up.set_defaults(func=cmd_up)

    serve = sub.add_parser("serve", help="the API only")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=int,
        default=None,
        help="API processes sharing the port (default LEADWIRE_API_WORKERS, 1)",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="queue workers only")
    worker.add_argument("--concurrency", type=int, default=10)
    worker.add_argument(
        "--queues", default=None, help="comma-separated (default: the role's queues)"
    )
    worker.add_argument(
        "--role",
        choices=["all", "dialer", "intake", "fetch", "bulk", "scheduler"],
        default="all",
        help="which work this process serves (default all: intake and the dial queues; "
        "dialer: the dial queues and emergency intake; intake: ordinary intake and fetches; "
        "fetch: the fetches alone; bulk: ordinary intake alone; scheduler: the cron)",
    )
    worker.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve this process's Prometheus /metrics on this port "
        "(default LEADWIRE_WORKER_METRICS_PORT; 0: off)",
    )
    worker.set_defaults(func=cmd_worker)

    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.set_defaults(func=cmd_migrate)

    tenants = sub.add_parser("tenants", help="manage tenants")
    tenants_sub = tenants.add_subparsers(dest="tenants_command", required=True)
    create = tenants_sub.add_parser("create", help="create a tenant; prints its API key once")
    create.add_argument("--slug", required=True)
    create.add_argument("--name", default=None)
    create.add_argument("--plan", choices=["starter", "pro", "enterprise"], default="starter")
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=cmd_tenants_create)
    add_compliance_commands(sub, settings=_settings_for_commands)
    sim = sub.add_parser("simulate", help="drive N leads through the whole pipeline; JSON report")
    sim.add_argument("--leads", type=int, required=True)
    sim.add_argument("--tenants", type=int, default=5)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    sim.add_argument("--time-scale", type=float, default=0.02, help="carrier timing factor")
    sim.add_argument("--timeout", type=float, default=600, help="seconds to wait for final states")
    sim.add_argument("--real-clock", action="store_true", help="judge calling windows at real time")
    sim.add_argument("--cps", type=float, default=30.0, help="account calls per second (30)")
    sim.add_argument("--quiet", action="store_true", help="no progress bar")
    sim.add_argument("--json", action="store_true")
    sim.set_defaults(func=cmd_simulate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (ConfigurationError, EmbeddedError) as exc:
        return _fail(str(exc))
    except LeadwireError as exc:
        return _fail(f"{exc.code}: {exc.message}")
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
