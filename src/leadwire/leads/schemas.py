"""OpenAPI descriptions of the intake and lead-read responses (JSON Schema dicts: response
schemas in `/openapi.json` are inlined, so they carry no `$defs`)."""

from __future__ import annotations

from typing import Any

from leadwire.leads.models import LeadStatus, Priority

__all__ = [
    "INTAKE_RESPONSES",
    "LEAD_LIST_RESPONSE",
    "LEAD_RESPONSE",
    "SALESFORCE_BODY",
    "WEBHOOK_BODY",
]

_LEAD_ENTRY: dict[str, Any] = {
    "type": "object",
    "required": ["lead_id", "status", "duplicate"],
    "properties": {
        "lead_id": {"type": "string", "format": "uuid"},
        "status": {"type": "string", "enum": [s.value for s in LeadStatus]},
        "duplicate": {
            "type": "boolean",
            "description": "true when this lead was stored by an earlier delivery; "
            "lead_id is then the first lead's",
        },
    },
}

INTAKE_BODY: dict[str, Any] = {
    "type": "object",
    "required": ["leads"],
    "properties": {"leads": {"type": "array", "items": _LEAD_ENTRY}},
}

_JSON_INTAKE = {"application/json": {"schema": INTAKE_BODY}}

INTAKE_RESPONSES: dict[int | str, str | dict[str, Any]] = {
    202: {
        "description": "At least one lead of the delivery was new; every lead is committed "
        "before this answer",
        "content": _JSON_INTAKE,
    },
    200: {
        "description": "Nothing new: every lead was already stored (a redelivery), or the "
        "delivery names a page, portal, org or key no tenant has (logged, nothing stored; "
        "`leads` is empty), or it carried no lead (other HubSpot events). Salesforce always "
        "gets its SOAP `Ack` with 200.",
        "content": {
            **_JSON_INTAKE,
            "text/xml": {"schema": {"type": "string", "description": "Salesforce SOAP Ack"}},
        },
    },
    400: "The body cannot be parsed",
    401: "Missing or wrong signature, secret or API key (nothing stored)",
    403: "The tenant is suspended",
    404: "Unknown source or tenant slug",
    413: "The body is larger than LEADWIRE_MAX_BODY_BYTES",
    415: "Wrong content type",
    422: "A field is invalid (the error names it)",
    429: "Per-IP abuse limit or per-tenant flood cap; retry after `Retry-After` seconds",
    503: "PostgreSQL unavailable: nothing was acknowledged; retry after `Retry-After` seconds",
}

WEBHOOK_BODY: dict[str, Any] = {
    "required": True,
    "description": "The provider's own payload, verified over its raw bytes",
    "content": {
        "application/json": {"schema": {}},
        "application/x-www-form-urlencoded": {"schema": {"type": "object"}},
        "multipart/form-data": {"schema": {"type": "object"}},
        "text/xml": {"schema": {"type": "string"}},
    },
}

SALESFORCE_BODY = WEBHOOK_BODY

_PRIORITIES = [p.value for p in Priority]

_LEAD_VIEW: dict[str, Any] = {
    "type": "object",
    "required": ["id", "status", "priority", "phone", "compliance", "calls", "timeline"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "source": {"type": "string"},
        "external_id": {"type": ["string", "null"]},
        "status": {"type": "string", "enum": [s.value for s in LeadStatus]},
        "reject_reason": {"type": ["string", "null"]},
        "priority": {"type": "string", "enum": _PRIORITIES},
        "urgency": {"type": ["string", "null"], "description": "as stated by the payload"},
        "phone": {"type": ["string", "null"], "description": "E.164"},
        "phone_raw": {"type": ["string", "null"]},
        "phone_info": {"type": "object"},
        "name": {"type": ["string", "null"]},
        "first_name": {"type": ["string", "null"]},
        "last_name": {"type": ["string", "null"]},
        "email": {"type": ["string", "null"]},
        "service": {"type": ["string", "null"]},
        "postal_code": {"type": ["string", "null"]},
        "state": {"type": ["string", "null"]},
        "campaign_id": {"type": ["string", "null"]},
        "message": {"type": ["string", "null"]},
        "consent": {"type": ["object", "null"]},
        "custom_fields": {"type": "object"},
        "enrichment": {"type": ["object", "null"]},
        "outcome": {"type": ["string", "null"]},
        "attempts": {"type": "integer"},
        "next_action_at": {"type": ["string", "null"], "format": "date-time"},
        "received_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "compliance": {
            "type": ["object", "null"],
            "description": "the last compliance decision, null before the first",
        },
        "calls": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "status": {"type": "string"},
                    "provider_call_id": {"type": ["string", "null"]},
                    "outcome": {"type": ["string", "null"]},
                    "started_at": {"type": ["string", "null"], "format": "date-time"},
                    "ended_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        },
        "timeline": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kind", "at"],
                "properties": {
                    "id": {"type": "integer"},
                    "kind": {"type": "string"},
                    "data": {"type": "object"},
                    "at": {"type": "string", "format": "date-time"},
                },
            },
        },
    },
}

LEAD_RESPONSE: dict[int | str, str | dict[str, Any]] = {
    200: {"description": "The lead", "content": {"application/json": {"schema": _LEAD_VIEW}}},
    404: "No such lead for this tenant (another tenant's lead answers the same)",
}

_LEAD_SUMMARY: dict[str, Any] = {
    "type": "object",
    "properties": {
        key: _LEAD_VIEW["properties"][key]
        for key in (
            "id",
            "source",
            "status",
            "reject_reason",
            "priority",
            "phone",
            "name",
            "service",
            "received_at",
            "updated_at",
        )
    },
}

LEAD_LIST_RESPONSE: dict[int | str, str | dict[str, Any]] = {
    200: {
        "description": "The tenant's leads, newest first",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["leads", "next_cursor"],
                    "properties": {
                        "leads": {"type": "array", "items": _LEAD_SUMMARY},
                        "next_cursor": {
                            "type": ["string", "null"],
                            "description": "pass as `cursor` for the next page; null at the end",
                        },
                    },
                }
            }
        },
    },
    422: "Invalid `status`, `cursor` or `limit` (the error names it)",
}
