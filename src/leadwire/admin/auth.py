"""Admin authentication: `Authorization: Bearer <admin token>`.

The bootstrap token comes from LEADWIRE_ADMIN_TOKEN and is compared in constant time. Every
refused attempt is logged as a security event with the client address.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request

from leadwire.platform.errors import Forbidden, Unauthorized
from leadwire.platform.http import app_state
from leadwire.platform.security import bearer_token, tokens_equal

log = logging.getLogger("leadwire.security")

Scope = Literal["read", "operate"]


@dataclass(frozen=True)
class Admin:
    actor: str
    scope: Scope


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


async def require_admin(request: Request, scope: Scope = "operate") -> Admin:
    state = app_state(request)
    token = bearer_token(request.headers.get("authorization"))
    admin: Admin | None = None
    configured = state.settings.admin_token
    if token and configured and tokens_equal(token, configured.get_secret_value()):
        admin = Admin(actor="bootstrap", scope="operate")
    if admin is None:
        state.metrics.security_events.labels("admin_unauthorized").inc()
        log.warning(
            "admin request refused",
            extra={
                "reason": "missing token" if not token else "invalid token",
                "path": request.url.path,
                "method": request.method,
                "ip": client_ip(request),
            },
        )
        raise Unauthorized("a valid admin bearer token is required", code="invalid_admin_token")
    if scope == "operate" and admin.scope != "operate":
        state.metrics.security_events.labels("admin_forbidden").inc()
        log.warning(
            "admin request refused",
            extra={"reason": "read-only token", "actor": admin.actor, "path": request.url.path},
        )
        raise Forbidden("this token is read-only", code="insufficient_scope")
    return admin
