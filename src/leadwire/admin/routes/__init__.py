"""Admin API routes (CONTRACT.md section 4, Admin), one module per concern.

Routes are thin: authorize (`require_admin`, scope `read` for reads and `operate` for every
change), parse, call one service, audit the action (who, when, what, why), answer.
"""

from __future__ import annotations

from leadwire.admin.routes import controls, dashboard, errors, metrics, tenants, tokens
from leadwire.platform.http import ApiRoute

routes: list[ApiRoute] = [
    *tenants.routes,
    *tokens.routes,
    *errors.routes,
    *controls.routes,
    *metrics.routes,
    *dashboard.routes,
]
