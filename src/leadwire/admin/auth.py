"""Admin authentication: `Authorization: Bearer <admin token>`.

Two kinds of token are accepted: the bootstrap token from LEADWIRE_ADMIN_TOKEN (compared in
constant time, scope `operate`), and admin tokens created through `POST /v1/admin/tokens`
(looked up by SHA-256, scope `read` or `operate`, refused once revoked). Routes that change
anything require `operate`; a `read` token gets 403 there, a missing or unknown token 401.

Every refused attempt is logged as a security event (log line and
`leadwire_security_events_total`) and written to the audit log with outcome `refused`. The
audit rows are capped per client address (`REFUSED_AUDIT_LIMIT`) so a flood of bad tokens
cannot fill the database; the log line and the counter are never skipped.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from leadwire.admin import audit, tokens
from leadwire.platform.db import session_scope
from leadwire.platform.errors import Forbidden, Unauthorized
from leadwire.platform.http import app_state
from leadwire.platform.security import bearer_token, tokens_equal
from leadwire.platform.state import AppState

log = logging.getLogger("leadwire.security")

Scope = Literal["read", "operate"]
REFUSED_AUDIT_LIMIT = "60/minute"


@dataclass(frozen=True)
class Admin:
    actor: str
    scope: Scope
    token_id: uuid.UUID | None = None


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def _identify(state: AppState, token: str | None) -> Admin | None:
    if not token:
        return None
    configured = state.settings.admin_token
    if configured and tokens_equal(token, configured.get_secret_value()):
        return Admin(actor="bootstrap", scope="operate")
    if not token.startswith(tokens.TOKEN_PREFIX):
        return None
    async with state.sessions() as session:
        row = await tokens.find_active(session, token)
    if row is None:
        return None
    scope: Scope = "operate" if row.scope == "operate" else "read"
    return Admin(actor=f"token:{row.name}", scope=scope, token_id=row.id)


async def _refuse(request: Request, *, actor: str, reason: str, kind: str, required: Scope) -> None:
    """Log, count and audit one refused attempt (the caller raises)."""
    state = app_state(request)
    ip = client_ip(request)
    target = f"{request.method} {request.url.path}"[:200]
    state.metrics.security_events.labels(kind).inc()
    audited = False
    try:
        allowed = await state.limiter.hit(REFUSED_AUDIT_LIMIT, "admin_refused", ip or "unknown")
        if allowed.allowed:
            async with session_scope(state.sessions) as session:
                await audit.record(
                    session,
                    actor=actor,
                    action="auth.refused",
                    target=target,
                    reason=reason,
                    details={"required_scope": required},
                    ip=ip,
                    outcome="refused",
                )
            audited = True
    except Exception as exc:  # the refusal stands even when it cannot be audited
        log.error("refused admin request not audited", extra={"error": repr(exc)})
    log.warning(
        "admin request refused",
        extra={
            "reason": reason,
            "actor": actor,
            "path": request.url.path,
            "method": request.method,
            "ip": ip,
            "audited": audited,
        },
    )


async def require_admin(request: Request, scope: Scope = "operate") -> Admin:
    """The admin behind the request's bearer token, with at least `scope`; else 401/403."""
    state = app_state(request)
    token = bearer_token(request.headers.get("authorization"))
    admin = await _identify(state, token)
    if admin is None:
        await _refuse(
            request,
            actor="anonymous",
            reason="missing token" if not token else "invalid token",
            kind="admin_unauthorized",
            required=scope,
        )
        raise Unauthorized("a valid admin bearer token is required", code="invalid_admin_token")
    if scope == "operate" and admin.scope != "operate":
        await _refuse(
            request,
            actor=admin.actor,
            reason="read-only token",
            kind="admin_forbidden",
            required=scope,
        )
        raise Forbidden("this token is read-only", code="insufficient_scope")
    return admin
