"""`create_app()`: routes, middleware, exception handlers and the lifespan.

Where a lead enters: `leads.routes`. Where the call decision is made: `compliance.gate`.
Where the call is placed: `telephony.dialer`.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute

from leadwire import __doc__ as package_doc
from leadwire.admin.prometheus import refresh as refresh_scrape_gauges
from leadwire.admin.routes import routes as admin_routes
from leadwire.compliance.routes import routes as compliance_routes
from leadwire.leads.routes import routes as lead_routes
from leadwire.platform.embedded import die_with_parent
from leadwire.platform.http import (
    EXCEPTION_HANDLERS,
    ApiRoute,
    RequestContextMiddleware,
    api_route,
    app_state,
    build_openapi,
)
from leadwire.platform.observability import Metrics, configure_logging
from leadwire.platform.settings import Settings, load_settings
from leadwire.platform.state import AppState, open_state
from leadwire.services import register_services
from leadwire.telephony.relay import route as relay_route
from leadwire.telephony.routes import routes as telephony_routes
from leadwire.tenants.routes import routes as tenant_routes

log = logging.getLogger("leadwire.app")
VERSION = "0.1.0"
_SERVER_NAMES = {"postgresql": "PostgreSQL", "redis": "Redis"}


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = app_state(request)
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            async with state.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        checks["postgresql"] = "ok"
    except Exception as exc:  # any failure means not ready
        checks["postgresql"] = f"unavailable: {type(exc).__name__}"
    try:
        async with asyncio.timeout(2):
            await state.redis.ping()  # type: ignore[misc]
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unavailable: {type(exc).__name__}"
    failed = [name for name, result in checks.items() if result != "ok"]
    if failed:
        names = " and ".join(_SERVER_NAMES[name] for name in failed)
        body = {
            "status": "unavailable",
            "checks": checks,
            "error": {"code": "not_ready", "message": f"{names} unavailable"},
        }
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ready", "checks": checks})


async def metrics(request: Request) -> Response:
    state = app_state(request)
    await refresh_scrape_gauges(state)
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)


def _platform_routes() -> list[ApiRoute]:
    return [
        api_route(
            "/healthz",
            healthz,
            "GET",
            summary="Liveness: 200 while the process lives",
            tags=["health"],
        ),
        api_route(
            "/readyz",
            readyz,
            "GET",
            summary="Readiness: 200 when PostgreSQL and Redis answer, else 503 naming the one down",
            tags=["health"],
            responses={200: "ready", 503: "PostgreSQL or Redis unavailable"},
        ),
        api_route(
            "/metrics",
            metrics,
            "GET",
            summary="Prometheus metrics (names start with leadwire_)",
            tags=["health"],
            responses={200: {"description": "Prometheus text", "content": {"text/plain": {}}}},
        ),
        api_route(
            "/openapi.json", openapi, "GET", summary="This OpenAPI 3 schema", tags=["health"]
        ),
    ]


def all_routes() -> list[BaseRoute]:
    return [
        *_platform_routes(),
        *tenant_routes,
        *lead_routes,
        *compliance_routes,
        *telephony_routes,
        relay_route,
        *admin_routes,
    ]


def create_app(settings: Settings, *, state: AppState | None = None) -> Starlette:
    """Build the ASGI app. With `state`, the caller owns the resources (tests, `up`)."""
    app_metrics = state.metrics if state else Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        if state is not None:
            register_services(state)
            app.state.leadwire = state
            yield {}
            return
        async with open_state(settings, metrics=app_metrics) as opened:
            register_services(opened)
            app.state.leadwire = opened
            # Everything built at start-up (modules, routes, pools, caches) lives as long as
            # the process: out of the collector's sight, a full collection no longer walks it,
            # which shortens the pauses that make intake's slowest acknowledgements.
            gc.collect()
            gc.freeze()
            log.info("api ready", extra={"public_url": settings.public_url})
            yield {}

    routes = all_routes()
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(
                RequestContextMiddleware,
                max_body_bytes=settings.max_body_bytes,
                metrics=app_metrics,
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.state.openapi = build_openapi(
        routes,
        title="Leadwire",
        version=VERSION,
        description=(package_doc or "").strip(),
    )
    return app


SERVE_PID_ENV = "LEADWIRE_SERVE_PID"


def app_from_environment() -> Starlette:
    """The app of one `leadwire serve --workers N` process (uvicorn calls it in each).

    The process dies with the serve process that spawned it, like `leadwire up`'s children.
    The parent-death signal only covers a parent that dies after it is set: one that died while
    this process was still starting has left it to init, so it stops at once.
    """
    die_with_parent()
    parent = os.environ.get(SERVE_PID_ENV)
    if parent and os.getppid() != int(parent):
        raise SystemExit("leadwire serve is gone; this API process stops")
    settings = load_settings()
    configure_logging(settings.log_level)
    return create_app(settings)
