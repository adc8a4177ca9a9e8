"""HTTP basics: the error shape everywhere, body limits, request ids, health, metrics, OpenAPI."""

from __future__ import annotations

import httpx
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadwire.platform import db
from leadwire.platform.http import ApiRoute
from leadwire.platform.state import AppState
from tests.helpers import admin_headers, bearer, error_of, make_tenant


async def test_unknown_route_is_404_in_contract_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"


async def test_wrong_method_is_405_in_contract_shape(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"postgresql": "ok", "redis": "ok"}


async def test_request_id_is_returned_and_honoured(client: httpx.AsyncClient) -> None:
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    given = await client.get("/healthz", headers={"X-Request-ID": "abc12345-given"})
    assert given.headers["x-request-id"] == "abc12345-given"
    bogus = await client.get("/healthz", headers={"X-Request-ID": "no spaces allowed!"})
    assert bogus.headers["x-request-id"] != "no spaces allowed!"


async def test_body_over_limit_by_content_length_is_413(client: httpx.AsyncClient) -> None:
    body = b"x" * (256 * 1024 + 1)
    response = await client.post(
        "/v1/admin/tenants",
        content=body,
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


async def test_chunked_body_over_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(300):
            yield b"x" * 1024

    response = await client.post(
        "/v1/admin/tenants",
        content=chunks(),
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


async def test_wrong_content_type_is_415_and_bad_json_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/admin/tenants",
        content=b"slug=x",
        headers={**admin_headers(), "Content-Type": "text/plain"},
    )
    assert response.status_code == 415
    assert error_of(response)["code"] == "unsupported_media_type"
    truncated = await client.post(
        "/v1/admin/tenants",
        content=b'{"slug": "ac',
        headers={**admin_headers(), "Content-Type": "application/json"},
    )
    assert truncated.status_code == 400
    assert error_of(truncated)["code"] == "bad_request"


async def test_unhandled_error_is_500_without_stack_trace(app: Starlette) -> None:
    async def boom(request):  # type: ignore[no-untyped-def]
        raise RuntimeError("secret internals /etc/passwd")

    app.router.routes.append(Route("/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="https://leadwire.test") as c:
        response = await c.get("/boom")
    assert response.status_code == 500
    error = error_of(response)
    assert error["code"] == "internal_error"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_a_server_that_does_not_answer_is_503_with_retry_after(
    app: Starlette, clean: AppState
) -> None:
    """Any route, not only intake: PostgreSQL or Redis unreachable is "retry later" (Twilio's
    callbacks come back), while a database error that is a bug stays a 500."""
    dead_db = db.create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/leadwire", pool_size=1)
    dead_redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)

    async def reads_postgres(request: Request) -> Response:
        async with dead_db.connect() as conn:
            await conn.exec_driver_sql("SELECT 1")
        return Response()

    async def reads_redis(request: Request) -> Response:
        await dead_redis.get("x")
        return Response()

    async def bad_statement(request: Request) -> Response:
        async with clean.engine.connect() as conn:
            await conn.exec_driver_sql("SELECT * FROM no_such_table")
        return Response()

    app.router.routes.extend(
        [Route("/pg", reads_postgres), Route("/redis", reads_redis), Route("/bug", bad_statement)]
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="https://leadwire.test") as c:
            for path in ("/pg", "/redis"):
                response = await c.get(path)
                assert response.status_code == 503, path
                assert error_of(response)["code"] == "service_unavailable"
                assert response.headers["retry-after"] == "5"
            bug = await c.get("/bug")
        assert bug.status_code == 500
        assert error_of(bug)["code"] == "internal_error"
        assert "no_such_table" not in bug.text
    finally:
        await dead_db.dispose()
        await dead_redis.aclose()


async def test_metrics_are_prometheus_text_with_prefix(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    names = {
        line.split("{")[0].split(" ")[0]
        for line in response.text.splitlines()
        if line and not line.startswith("#")
    }
    assert names
    assert all(name.startswith("leadwire_") for name in names), names
    assert (
        'leadwire_http_requests_total{method="GET",route="/healthz",status="200"}' in response.text
    )


async def test_openapi_describes_every_mounted_route(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert schema["openapi"].startswith("3.")
    for route in app.routes:
        assert isinstance(route, ApiRoute), f"{route} has no OpenAPI description"
        for method in route.methods or ():
            if method == "HEAD":
                continue
            assert method.lower() in schema["paths"][route.path], (route.path, method)
    assert "Error" in schema["components"]["schemas"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic Zm9vOmJhcg=="}],
)
async def test_tenant_routes_need_a_valid_key(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.get("/v1/settings", headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] in {"missing_api_key", "invalid_api_key"}


async def test_suspended_tenant_key_is_refused(client: httpx.AsyncClient, clean) -> None:  # type: ignore[no-untyped-def]
    _, key = await make_tenant(clean, slug="sleepy")
    assert (await client.get("/v1/settings", headers=bearer(key))).status_code == 200
    patched = await client.patch(
        "/v1/admin/tenants/sleepy",
        json={"status": "suspended", "reason": "unpaid"},
        headers=admin_headers(),
    )
    assert patched.status_code == 200
    refused = await client.get("/v1/settings", headers=bearer(key))
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "tenant_suspended"
