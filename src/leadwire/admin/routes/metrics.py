"""Admin API: the six metrics (`queue-status`, `rate-limits`, `error-stats`, `lead-stats`,
`call-stats`, `system-health`), each over a `window` and optionally for one `tenant`."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from leadwire.admin import stats
from leadwire.admin.auth import require_admin
from leadwire.admin.routes._common import OBJECT, SECURITY, TAGS, TENANT_PARAM, tenant_filter
from leadwire.platform.errors import InvalidPayload, NotFound
from leadwire.platform.http import ApiRoute, api_route, app_state
from leadwire.platform.opsstats import parse_window

DEFAULT_WINDOW = "1h"


class UnknownMetric(NotFound):
    code = "unknown_metric"


async def get_metric(request: Request) -> JSONResponse:
    await require_admin(request, "read")
    name = request.path_params["name"]
    compute = stats.METRICS.get(name)
    if compute is None:
        raise UnknownMetric(f"no metric {name!r}; metrics are {', '.join(stats.METRICS)}")
    window_text = request.query_params.get("window") or DEFAULT_WINDOW
    try:
        window = parse_window(window_text)
    except ValueError as exc:
        raise InvalidPayload(str(exc), field="window") from None
    state = app_state(request)
    async with state.sessions() as session:
        tenant = await tenant_filter(session, request)
    query = stats.make_query(window=window, window_text=window_text, tenant=tenant)
    return JSONResponse(await compute(state, query))


routes: list[ApiRoute] = [
    api_route(
        "/v1/admin/metrics/{name}",
        get_metric,
        "GET",
        summary="One operational metric over a time window",
        description=(
            "`name` is one of " + ", ".join(f"`{n}`" for n in stats.METRICS) + ". `window` is "
            "a number and a unit (`15m`, `1h`, `24h`; 1m to 24h, default 1h); series have at "
            "most 60 points. `tenant` (a slug) restricts tenant-scoped figures to one tenant."
        ),
        tags=TAGS,
        responses={200: OBJECT, 404: "unknown metric or tenant", 422: "invalid window"},
        security=SECURITY,
        parameters=[
            {"name": "window", "in": "query", "schema": {"type": "string", "example": "15m"}},
            TENANT_PARAM,
        ],
    ),
]
