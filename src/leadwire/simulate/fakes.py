"""Stand-ins for the outside APIs the intake calls back: Meta's Graph API and HubSpot's CRM.

The simulation cannot reach the real ones; these answer with the documented shapes
(integrations.md 1.6 and 2) for the leads the simulation posted.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def fake_apis(graph: dict[str, dict[str, Any]], hubspot: dict[str, dict[str, Any]]) -> Starlette:
    async def graph_lead(request: Request) -> JSONResponse:
        answer = graph.get(request.path_params["leadgen_id"])
        if answer is None:
            error = {
                "message": "Unsupported get request",
                "type": "GraphMethodException",
                "code": 100,
            }
            return JSONResponse({"error": error}, status_code=400)
        return JSONResponse(answer)

    async def hubspot_contact(request: Request) -> JSONResponse:
        answer = hubspot.get(request.path_params["object_id"])
        if answer is None:
            return JSONResponse(
                {"status": "error", "message": "resource not found"}, status_code=404
            )
        return JSONResponse(answer)

    return Starlette(
        routes=[
            Route("/{version}/{leadgen_id}", graph_lead),
            Route("/crm/v3/objects/contacts/{object_id}", hubspot_contact),
        ]
    )
