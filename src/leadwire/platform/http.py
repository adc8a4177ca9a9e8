"""HTTP plumbing shared by every area: request context, body limit, error rendering, JSON
bodies, and `api_route`, which attaches each route's OpenAPI description to the route itself
so `/openapi.json` is built from what is actually mounted."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import sqlalchemy.exc as sa_exc
from pydantic import BaseModel, ValidationError
from redis.exceptions import RedisError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from leadwire.platform.classify import classify
from leadwire.platform.errors import (
    BadRequest,
    InvalidPayload,
    LeadwireError,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from leadwire.platform.observability import Metrics, request_id_var
from leadwire.platform.state import AppState

log = logging.getLogger("leadwire.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_payload",
    429: "rate_limited",
}

M = TypeVar("M", bound=BaseModel)


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.leadwire
    return state


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    return JSONResponse({"error": error}, status_code=status, headers=headers)


class RequestContextMiddleware:
    """Request id, body size limit, access log and HTTP metrics, as one pure ASGI layer."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status_holder = [500]

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder[0] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            length = headers.get(b"content-length")
            if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
                response = error_response(
                    413,
                    "payload_too_large",
                    f"request body is larger than {self.max_body_bytes} bytes",
                )
                await response(scope, receive, send_wrapper)
                return
            received = 0
            limit = self.max_body_bytes

            async def limited_receive() -> Message:
                nonlocal received
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
                return message

            await self.app(scope, limited_receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("leadwire.route") or "unmatched"
            self.metrics.http_requests.labels(scope["method"], route, str(status_holder[0])).inc()
            self.metrics.http_latency.labels(route).observe(elapsed)
            if status_holder[0] >= 500:
                log.warning(
                    "request failed",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status_holder[0],
                    },
                )
            request_id_var.reset(token)


async def leadwire_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, LeadwireError)
    return error_response(
        exc.status_code, exc.code, exc.message, field=exc.field, headers=exc.headers or None
    )


async def http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = {
        404: f"no route for {request.url.path}",
        405: f"method {request.method} is not allowed on {request.url.path}",
    }.get(exc.status_code, str(exc.detail))
    return error_response(exc.status_code, code, message, headers=dict(exc.headers or {}) or None)


async def unhandled_error_handler(request: Request, exc: Exception) -> Response:
    log.error("unhandled error", exc_info=exc, extra={"path": request.url.path})
    request_id = request_id_var.get()
    return error_response(500, "internal_error", f"internal error (request id {request_id})")


# Classifications that mean "a server this request needs did not answer" (connection refused or
# reset, a pool checkout that timed out), rather than a bug.
_UNAVAILABLE = frozenset({"database_unavailable", "redis_unavailable", "network", "timeout"})
UNAVAILABLE_RETRY_AFTER_S = 5


async def server_error_handler(request: Request, exc: Exception) -> Response:
    """PostgreSQL or Redis failing under any route: 503 with `Retry-After`, else a 500.

    Intake turns a database outage into 503 itself; this covers every other route, notably
    Twilio's callbacks, so that an outage answers "come back later" (logged as a warning)
    instead of a 500 with a stack trace per request. A database error that is not an outage
    (a bad statement) is a bug and stays a 500. Registered per exception type, not under
    `Exception`: Starlette re-raises whatever reaches its last-resort handler, and the server
    would log each one as a crash.
    """
    classification = classify(exc)
    if classification.code not in _UNAVAILABLE:
        return await unhandled_error_handler(request, exc)
    log.warning(
        "request refused: a server it needs is unavailable",
        extra={"path": request.url.path, "code": classification.code, "error": repr(exc)},
    )
    return error_response(
        503,
        "service_unavailable",
        "a server this request needs is unavailable; retry later",
        headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)},
    )


EXCEPTION_HANDLERS: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
    LeadwireError: leadwire_error_handler,
    HTTPException: http_exception_handler,
    sa_exc.SQLAlchemyError: server_error_handler,
    RedisError: server_error_handler,
    OSError: server_error_handler,  # asyncpg raises a refused connection as itself
    Exception: unhandled_error_handler,
}


# ---- request bodies ---------------------------------------------------------------------------


def _pydantic_field(error: dict[str, Any]) -> str | None:
    loc = [str(p) for p in error.get("loc", ()) if p != "__root__"]
    return ".".join(loc) or None


def validation_error(exc: ValidationError) -> InvalidPayload:
    first = exc.errors()[0]
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    field = _pydantic_field(dict(first))
    return InvalidPayload(f"{field}: {message}" if field else message, field=field)


async def read_json(request: Request, *, allow_empty: bool = False) -> Any:
    """The request body as JSON: 415 for another content type, 400 when it does not parse."""
    body = await request.body()
    if not body and allow_empty:
        return {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"expected Content-Type application/json, got {content_type or 'none'}"
        )
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None


async def parse_body(request: Request, model: type[M]) -> M:
    data = await read_json(request)
    if not isinstance(data, dict):
        raise InvalidPayload("body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


# ---- routes and their OpenAPI description -----------------------------------------------------


class ApiRoute(Route):
    """A Starlette route that carries its OpenAPI operation(s) and labels its metrics."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: list[str],
        openapi: dict[str, dict[str, Any]],
        name: str | None = None,
    ) -> None:
        super().__init__(path, endpoint, methods=methods, name=name)
        self.openapi = openapi

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["leadwire.route"] = self.path
        await super().handle(scope, receive, send)


def api_route(
    path: str,
    endpoint: Callable[..., Any],
    method: str,
    *,
    summary: str,
    tags: list[str],
    request_body: dict[str, Any] | type[BaseModel] | None = None,
    responses: dict[int | str, str | dict[str, Any]] | None = None,
    security: str | None = None,
    parameters: list[dict[str, Any]] | None = None,
    description: str | None = None,
) -> ApiRoute:
    operation: dict[str, Any] = {"summary": summary, "tags": tags, "responses": {}}
    if description:
        operation["description"] = description
    if security:
        operation["security"] = [{security: []}]
    path_params = re.findall(r"{(\w+)(?::\w+)?}", path)
    params = [
        {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
        for p in path_params
    ]
    operation["parameters"] = params + list(parameters or [])
    if request_body is not None:
        schema = (
            request_body.model_json_schema(ref_template="#/components/schemas/{model}")
            if isinstance(request_body, type)
            else request_body
        )
        if "content" in schema:
            operation["requestBody"] = schema
        else:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": schema}},
            }
    for status, value in (responses or {200: "OK"}).items():
        operation["responses"][str(status)] = (
            {"description": value} if isinstance(value, str) else value
        )
    operation["responses"].setdefault(
        "default",
        {
            "description": "Error",
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        },
    )
    return ApiRoute(path, endpoint, methods=[method], openapi={method.lower(): operation})


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "example": "invalid_payload"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "dotted path of the offending field"},
            },
        }
    },
}


def build_openapi(
    routes: list[Any], *, title: str, version: str, description: str
) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for route in routes:
        spec = getattr(route, "openapi", None)
        if spec is None:
            continue
        path = re.sub(r"{(\w+):\w+}", r"{\1}", route.path)
        for method, operation in spec.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            defs = body.get("schema", {}).pop("$defs", None) if body else None
            if defs:
                schemas.update(defs)
            paths.setdefault(path, {})[method] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": description},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "tenantKey": {"type": "http", "scheme": "bearer", "description": "tenant API key"},
                "adminToken": {"type": "http", "scheme": "bearer", "description": "admin token"},
                "twilioSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Twilio-Signature",
                },
            },
        },
    }
