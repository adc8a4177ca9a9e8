"""Lead intake and lead reads (CONTRACT.md section 4). Thin: read the request, call the intake
service, map its outcome (or error) to the provider's expected answer.

Answers to a verified delivery: 202 `{"leads": [...]}` when anything new was stored, 200 when
nothing was (a redelivery: `duplicate: true` with the first `lead_id`; or a page / portal / org
/ key that no tenant has, logged and answered 200 with `"leads": []` so the provider stops
retrying). Salesforce gets its SOAP `Ack` (200) and SOAP faults for errors. Every failure goes
through `_refused`: counted against the client IP (abuse limits), logged as a security event
when it is an authentication failure, and rendered in the provider's error shape.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from leadwire.leads import abuse, service, views
from leadwire.leads.adapters.base import Headers, InboundRequest, LeadSourceAdapter
from leadwire.leads.adapters.credentials import SourceCredentials
from leadwire.leads.adapters.form import normalize_origin
from leadwire.leads.adapters.meta import meta_handshake
from leadwire.leads.adapters.registry import adapter_for
from leadwire.leads.canonical import DirectLeadIn
from leadwire.leads.schemas import (
    INTAKE_RESPONSES,
    LEAD_LIST_RESPONSE,
    LEAD_RESPONSE,
    WEBHOOK_BODY,
)
from leadwire.leads.tenancy import platform_secrets, tenant_by_slug
from leadwire.platform.errors import Forbidden, LeadwireError, NotFound, UnknownTenant
from leadwire.platform.http import ApiRoute, api_route, app_state, error_response
from leadwire.platform.state import AppState
from leadwire.tenants.auth import authenticate_tenant
from leadwire.tenants.errors import InvalidApiKey

__all__ = ["routes"]

log = logging.getLogger("leadwire.security")

# Failures that count against the client's IP: what a prober or a broken sender produces.
_COUNTED = frozenset({400, 401, 403, 404, 405, 415, 422})
_AUTH_FAILURES = frozenset({401, 403})
_CORS_MAX_AGE = "600"


class LeadNotFound(NotFound):
    code = "lead_not_found"


class OriginNotAllowed(Forbidden):
    code = "origin_not_allowed"


def _client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _inbound(request: Request, state: AppState) -> InboundRequest:
    """The delivery as the adapters read it: raw body, the public URL the sender called (HubSpot
    signs it), headers, arrival time and client address."""
    body = await request.body()
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    url = state.settings.public_url + path + (f"?{query}" if query else "")
    return InboundRequest(
        method=request.method,
        url=url,
        headers=Headers((k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers.raw),
        body=body,
        now=dt.datetime.now(dt.UTC),
        client_ip=_client_ip(request),
    )


async def _refused(
    request: Request,
    state: AppState,
    error: LeadwireError,
    *,
    source: str,
    adapter: LeadSourceAdapter | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    ip = _client_ip(request)
    if error.status_code in _AUTH_FAILURES:
        if not isinstance(error, InvalidApiKey):  # the tenants area counts its own
            state.metrics.security_events.labels(error.code).inc()
        log.warning(
            "intake request refused",
            extra={
                "source": source,
                "code": error.code,
                "reason": error.message,
                "ip": ip,
                "path": request.url.path,
            },
        )
    if error.status_code in _COUNTED:
        limited = await abuse.note_failure(state, ip)
        if limited is not None:
            error = limited
    all_headers = {**error.headers, **(headers or {})}
    custom = adapter.error_response(error) if adapter is not None else None
    if custom is not None:
        return Response(
            custom.body,
            status_code=custom.status_code,
            media_type=custom.media_type,
            headers=all_headers,
        )
    return error_response(
        error.status_code, error.code, error.message, field=error.field, headers=all_headers
    )


def _answer(
    outcome: service.IntakeOutcome,
    *,
    adapter: LeadSourceAdapter | None,
    headers: dict[str, str] | None = None,
) -> Response:
    ack = adapter.acknowledgement() if adapter is not None else None
    if ack is not None:
        return Response(
            ack.body, status_code=ack.status_code, media_type=ack.media_type, headers=headers
        )
    return JSONResponse(
        {"leads": [r.to_json() for r in outcome.results]},
        status_code=202 if outcome.stored_new else 200,
        headers=headers,
    )


def _allowed_origin(credentials: SourceCredentials | None, origin: str | None) -> str | None:
    """The request's Origin when the tenant's public form allows it, else None."""
    if credentials is None or not credentials.public or not origin:
        return None
    normalized = normalize_origin(origin)
    allowed = {normalize_origin(o) for o in credentials.allowed_origins}
    return origin if normalized is not None and normalized in allowed else None


async def _cors_headers(state: AppState, slug: str, origin: str | None) -> dict[str, str] | None:
    if not origin:
        return None
    with service.database_guard():
        tenant = await tenant_by_slug(state, slug)
    allowed = _allowed_origin(tenant.source("form") if tenant else None, origin)
    if allowed is None:
        return None
    return {"Access-Control-Allow-Origin": allowed, "Vary": "Origin"}


# --- webhooks ----------------------------------------------------------------------------------
async def webhook(request: Request) -> Response:
    state = app_state(request)
    source: str = request.path_params["source"]
    slug: str | None = request.path_params.get("tenant_slug")
    adapter: LeadSourceAdapter | None = None
    cors: dict[str, str] | None = None
    try:
        adapter = adapter_for(source)
        if slug is not None and source == "form":
            cors = await _cors_headers(state, slug, request.headers.get("origin"))
        inbound = await _inbound(request, state)
        outcome = await service.receive_webhook(
            state, adapter=adapter, request=inbound, tenant_slug=slug
        )
    except LeadwireError as exc:
        return await _refused(request, state, exc, source=source, adapter=adapter, headers=cors)
    return _answer(outcome, adapter=adapter, headers=cors)


async def form_preflight(request: Request) -> Response:
    """CORS preflight of a public form: 204 with the CORS headers for an allowed origin."""
    state = app_state(request)
    slug: str = request.path_params["tenant_slug"]
    try:
        with service.database_guard():
            tenant = await tenant_by_slug(state, slug)
        if tenant is None:
            raise UnknownTenant(f"no tenant {slug!r}")
        origin = _allowed_origin(tenant.source("form"), request.headers.get("origin"))
        if origin is None:
            raise OriginNotAllowed("this origin may not post to this tenant's form")
    except LeadwireError as exc:
        return await _refused(request, state, exc, source="form")
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": _CORS_MAX_AGE,
            "Vary": "Origin",
        },
    )


async def meta_verification(request: Request) -> Response:
    """Meta's `hub.challenge` handshake: the tenant's own verify token on its URL, else the
    platform's `LEADWIRE_META_VERIFY_TOKEN`."""
    state = app_state(request)
    slug: str | None = request.path_params.get("tenant_slug")
    try:
        secret = platform_secrets(state.settings).meta_verify_token
        if slug is not None:
            with service.database_guard():
                tenant = await tenant_by_slug(state, slug)
            if tenant is None:
                raise UnknownTenant(f"no tenant {slug!r}")
            own = tenant.source("meta")
            if own is not None and own.verify_token is not None:
                secret = own.verify_token
        token = secret.get_secret_value() if secret is not None else None
        challenge = meta_handshake(dict(request.query_params), token)
    except LeadwireError as exc:
        return await _refused(request, state, exc, source="meta")
    return PlainTextResponse(challenge)


# --- direct API and reads ----------------------------------------------------------------------
async def create_leads(request: Request) -> Response:
    state = app_state(request)
    try:
        with service.database_guard():
            tenant = await authenticate_tenant(request)
        inbound = await _inbound(request, state)
        outcome = await service.receive_direct(state, tenant_id=tenant.id, request=inbound)
    except LeadwireError as exc:
        return await _refused(request, state, exc, source="api")
    return _answer(outcome, adapter=None)


async def list_leads(request: Request) -> Response:
    state = app_state(request)
    with service.database_guard():
        tenant = await authenticate_tenant(request)
        status, after, limit = views.parse_list_query(dict(request.query_params))
        async with state.sessions() as session:
            body = await views.lead_list(
                session, tenant_id=tenant.id, status=status, after=after, limit=limit
            )
    return JSONResponse(body)


async def get_lead(request: Request) -> Response:
    state = app_state(request)
    with service.database_guard():
        tenant = await authenticate_tenant(request)
        try:
            lead_id = uuid.UUID(request.path_params["lead_id"])
        except ValueError:
            raise LeadNotFound("no such lead") from None
        async with state.sessions() as session:
            view = await views.lead_detail(
                session, state=state, tenant_id=tenant.id, lead_id=lead_id
            )
    if view is None:
        raise LeadNotFound("no such lead")
    return JSONResponse(view)


_APP_LEVEL = (
    "App-level endpoint: the tenant is found from the payload (Meta page_id, HubSpot portalId, "
    "Salesforce OrganizationId, Google Ads google_key). A page, portal, org or key no tenant "
    "has is logged and answered 200 with nothing stored (Salesforce: its Ack), so the provider "
    "stops retrying."
)
_TENANT_SCOPED = (
    "Tenant-scoped endpoint for any source (meta, hubspot, salesforce, google-ads, zapier, "
    "form). Zapier and server-side forms authenticate with `Authorization: Bearer <secret>` or "
    "Standard Webhooks headers; a public form also takes unsigned browser posts from its allowed "
    "origins (CORS, honeypot field `_hp`, per-IP limits)."
)

routes: list[ApiRoute] = [
    api_route(
        "/v1/webhooks/meta",
        meta_verification,
        "GET",
        summary="Meta webhook verification (hub.challenge) with the platform's verify token",
        tags=["intake"],
        parameters=[
            {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
            for n in ("hub.mode", "hub.challenge", "hub.verify_token")
        ],
        responses={200: "the challenge, as text/plain", 403: "verification failed"},
    ),
    api_route(
        "/v1/webhooks/meta/{tenant_slug}",
        meta_verification,
        "GET",
        summary="Meta webhook verification with the tenant's verify token (else the platform's)",
        tags=["intake"],
        parameters=[
            {"name": n, "in": "query", "required": True, "schema": {"type": "string"}}
            for n in ("hub.mode", "hub.challenge", "hub.verify_token")
        ],
        responses={200: "the challenge, as text/plain", 403: "verification failed"},
    ),
    api_route(
        "/v1/webhooks/{source}",
        webhook,
        "POST",
        summary="Receive leads from meta, hubspot, salesforce or google-ads (tenant from payload)",
        description=_APP_LEVEL,
        tags=["intake"],
        request_body=WEBHOOK_BODY,
        responses=INTAKE_RESPONSES,
    ),
    api_route(
        "/v1/webhooks/form/{tenant_slug}",
        form_preflight,
        "OPTIONS",
        summary="CORS preflight for a tenant's public form",
        tags=["intake"],
        responses={204: "allowed, with CORS headers", 403: "origin not allowed"},
    ),
    api_route(
        "/v1/webhooks/{source}/{tenant_slug}",
        webhook,
        "POST",
        summary="Receive leads for one tenant from any source",
        description=_TENANT_SCOPED,
        tags=["intake"],
        request_body=WEBHOOK_BODY,
        responses=INTAKE_RESPONSES,
    ),
    api_route(
        "/v1/leads",
        create_leads,
        "POST",
        summary="Submit leads directly (one lead object or an array of up to 100)",
        description="Dedupe: `external_id`, else the `Idempotency-Key` header, else the same "
        "phone, email and campaign within 24 hours.",
        tags=["leads"],
        security="tenantKey",
        request_body=DirectLeadIn,
        responses=INTAKE_RESPONSES,
        parameters=[
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "schema": {"type": "string", "maxLength": 200},
            }
        ],
    ),
    api_route(
        "/v1/leads",
        list_leads,
        "GET",
        summary="List the tenant's leads, newest first",
        tags=["leads"],
        security="tenantKey",
        parameters=[
            {"name": "status", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "cursor", "in": "query", "required": False, "schema": {"type": "string"}},
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "minimum": 1, "maximum": views.MAX_LIMIT},
            },
        ],
        responses=LEAD_LIST_RESPONSE,
    ),
    api_route(
        "/v1/leads/{lead_id}",
        get_lead,
        "GET",
        summary="One lead with its compliance decision, calls and timeline",
        tags=["leads"],
        security="tenantKey",
        responses=LEAD_RESPONSE,
    ),
]
