"""Plain async helpers for tests (no factory framework)."""

from __future__ import annotations

from typing import Any

import httpx

from leadwire.platform.db import session_scope
from leadwire.platform.state import AppState
from leadwire.tenants import service
from leadwire.tenants.models import Tenant

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"
SECRET_KEY = "test-secret-key-0123456789abcdefghijklmnopqrstuvwxyz"


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def make_tenant(
    state: AppState,
    *,
    slug: str = "acme",
    plan: str = "pro",
    settings: dict[str, Any] | None = None,
) -> tuple[Tenant, str]:
    """Create a committed tenant; returns it with its API key."""
    async with session_scope(state.sessions) as session:
        return await service.create_tenant(
            session,
            slug=slug,
            name=slug.title(),
            plan=plan,
            settings=settings,
            secret_box=state.secret_box,
        )


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The contract's error object, asserting the shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert set(error) <= {"code", "message", "field"}
    return error
