"""Completing id-only deliveries from the provider's API (Meta Graph, HubSpot CRM).

Each fetcher takes the `httpx.AsyncClient` the worker owns (respx intercepts it in tests) and a
configurable base URL, and returns a `LeadUpdate` to merge with `canonical.apply_update`. Every
failure surfaces as `ExternalServiceError(provider=..., http_status=..., provider_code=...,
retry_after_s=...)`; httpx exceptions (timeouts and connection errors included) never leak.
`provider_code` is the provider's own code when it gave one (Meta `error.code`, HubSpot
`category`), else `timeout`, `connection_error` or `invalid_response`, so retry policy can decide
from data.

Secrets: Meta's page token travels as the `access_token` query parameter, as Meta documents it,
so no error raised here carries the request URL, and the `httpx` logger (which logs request
URLs at INFO) must stay at WARNING or above in production.
"""

from __future__ import annotations

import email.utils
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import JsonValue, ValidationError

from leadwire.leads.adapters.fields import map_fields, take_urgency
from leadwire.leads.canonical import ConsentEvidence, DisclaimerResponse, LeadUpdate
from leadwire.platform.errors import ExternalServiceError, InvalidPayload

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "HUBSPOT_API_BASE_URL",
    "HUBSPOT_CONTACT_PROPERTIES",
    "META_GRAPH_BASE_URL",
    "META_GRAPH_VERSION",
    "META_LEAD_FIELDS",
    "fetch_hubspot_contact",
    "fetch_meta_lead",
    "hubspot_contact_update",
    "meta_lead_update",
]

META_GRAPH_BASE_URL = "https://graph.facebook.com"
META_GRAPH_VERSION = "v25.0"
META_LEAD_FIELDS = ("created_time", "id", "ad_id", "form_id", "field_data")
HUBSPOT_API_BASE_URL = "https://api.hubapi.com"
HUBSPOT_CONTACT_PROPERTIES = (
    "firstname",
    "lastname",
    "email",
    "phone",
    "mobilephone",
    "zip",
    "state",
    "city",
    "message",
)
DEFAULT_TIMEOUT_S = 10.0

_ID = re.compile(r"^[0-9]{1,32}$")
# HubSpot properties every contact read returns whatever was asked; they describe the record,
# not the lead.
_HUBSPOT_SYSTEM = frozenset({"hs_object_id", "createdate", "lastmodifieddate"})


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_code(provider: str, body: Any) -> int | str | None:
    if not isinstance(body, dict):
        return None
    if provider == "meta":
        error = body.get("error")
        code = error.get("code") if isinstance(error, dict) else None
    else:
        code = body.get("category")
    return code if isinstance(code, int | str) and not isinstance(code, bool) else None


async def _get_json(
    client: httpx.AsyncClient,
    *,
    provider: str,
    url: str,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    timeout_s: float,
) -> dict[str, Any]:
    try:
        response = await client.get(url, params=params, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        # `from None`: the httpx exception holds the request, whose URL may carry the token.
        raise ExternalServiceError(
            f"{provider} request timed out", provider=provider, provider_code="timeout"
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise ExternalServiceError(
            f"{provider} request failed: {type(exc).__name__}",
            provider=provider,
            provider_code="connection_error",
        ) from None
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not response.is_success:
        code = _error_code(provider, body)
        raise ExternalServiceError(
            f"{provider} answered HTTP {response.status_code}"
            + (f" (code {code})" if code is not None else ""),
            provider=provider,
            provider_code=code,
            http_status=response.status_code,
            retry_after_s=_retry_after(response.headers),
        )
    if not isinstance(body, dict):
        raise ExternalServiceError(
            f"{provider} answered with a body that is not a JSON object",
            provider=provider,
            provider_code="invalid_response",
            http_status=response.status_code,
        )
    return body


def _checked_id(value: str, *, field: str) -> str:
    # The id becomes a URL path segment: only digits may get there.
    if not _ID.match(value):
        raise InvalidPayload("must be a numeric id", field=field)
    return value


def _created_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


def _invalid_response(provider: str, what: str) -> ExternalServiceError:
    return ExternalServiceError(
        f"{provider} answered with an unexpected {what}",
        provider=provider,
        provider_code="invalid_response",
        http_status=200,
    )


def meta_lead_update(body: Mapping[str, Any]) -> LeadUpdate:
    """Map a Graph lead (`{"id", "created_time", "field_data": [{"name", "values"}], ...}`).

    Single answers are stored as text, multi-select answers as lists; `full_name`,
    `first_name`, `last_name`, `email`, `phone_number`, `zip_code`/`post_code`, `state`... are
    recognized, `city` and custom questions become custom fields. `custom_disclaimer_responses`
    (when requested) become consent evidence, timestamped with the lead's `created_time`.
    """
    record: dict[str, JsonValue] = {}
    field_data = body.get("field_data") or []
    if not isinstance(field_data, list):
        raise _invalid_response("meta", "field_data")
    for item in field_data:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            continue
        values: list[JsonValue] = [
            v for v in item.get("values") or [] if isinstance(v, str) and v.strip()
        ]
        if values:
            record.setdefault(item["name"], values[0] if len(values) == 1 else values)
    mapped = map_fields(record)
    urgency = take_urgency(mapped)
    fields = mapped.fields
    consent = None
    responses = body.get("custom_disclaimer_responses")
    if isinstance(responses, list):
        try:
            consent = ConsentEvidence(
                source="meta",
                form_id=str(body["form_id"]) if body.get("form_id") is not None else None,
                timestamp=_created_time(body.get("created_time")),
                disclaimer_responses=tuple(
                    DisclaimerResponse.model_validate(r) for r in responses if isinstance(r, dict)
                ),
            )
        except ValidationError as exc:
            raise _invalid_response("meta", "custom_disclaimer_responses") from exc
    campaign = body.get("campaign_id")
    lead_id = body.get("id")
    return LeadUpdate(
        external_id=str(lead_id) if isinstance(lead_id, str | int) else None,
        name=fields.get("name"),
        first_name=fields.get("first_name"),
        last_name=fields.get("last_name"),
        phone=fields.get("phone"),
        email=fields.get("email"),
        service=fields.get("service"),
        urgency=urgency,
        postal_code=fields.get("postal_code"),
        state=fields.get("state"),
        campaign_id=str(campaign) if isinstance(campaign, str | int) else fields.get("campaign_id"),
        message=fields.get("message"),
        consent=consent,
        custom_fields=mapped.custom,
    )


async def fetch_meta_lead(
    client: httpx.AsyncClient,
    *,
    leadgen_id: str,
    page_access_token: str,
    base_url: str = META_GRAPH_BASE_URL,
    api_version: str = META_GRAPH_VERSION,
    fields: Sequence[str] = META_LEAD_FIELDS,
    with_consent: bool = False,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> LeadUpdate:
    """`GET {base_url}/{api_version}/{leadgen_id}?fields=...&access_token=...` mapped to a
    `LeadUpdate`. `with_consent` also asks for `custom_disclaimer_responses`."""
    leadgen_id = _checked_id(leadgen_id, field="leadgen_id")
    wanted = list(fields) + (["custom_disclaimer_responses"] if with_consent else [])
    body = await _get_json(
        client,
        provider="meta",
        url=f"{base_url.rstrip('/')}/{api_version}/{leadgen_id}",
        params={"fields": ",".join(wanted), "access_token": page_access_token},
        headers={"Accept": "application/json"},
        timeout_s=timeout_s,
    )
    return meta_lead_update(body)


def hubspot_contact_update(body: Mapping[str, Any]) -> LeadUpdate:
    """Map a CRM v3 contact (`{"id", "properties": {name: str | null}}`): `firstname`,
    `lastname`, `email`, `phone` (else `mobilephone`), `zip`, `state`, `message`; other non-empty
    properties become custom fields."""
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise _invalid_response("hubspot", "contact body")
    mapped = map_fields({k: v for k, v in properties.items() if k not in _HUBSPOT_SYSTEM})
    urgency = take_urgency(mapped)
    fields = mapped.fields
    contact_id = body.get("id")
    return LeadUpdate(
        external_id=str(contact_id) if isinstance(contact_id, str | int) else None,
        name=fields.get("name"),
        first_name=fields.get("first_name"),
        last_name=fields.get("last_name"),
        phone=fields.get("phone"),
        email=fields.get("email"),
        service=fields.get("service"),
        urgency=urgency,
        postal_code=fields.get("postal_code"),
        state=fields.get("state"),
        campaign_id=fields.get("campaign_id"),
        message=fields.get("message"),
        custom_fields=mapped.custom,
    )


async def fetch_hubspot_contact(
    client: httpx.AsyncClient,
    *,
    object_id: str,
    access_token: str,
    base_url: str = HUBSPOT_API_BASE_URL,
    properties: Sequence[str] = HUBSPOT_CONTACT_PROPERTIES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> LeadUpdate:
    """`GET {base_url}/crm/v3/objects/contacts/{object_id}?properties=...` with
    `Authorization: Bearer <access_token>`, mapped to a `LeadUpdate`."""
    object_id = _checked_id(object_id, field="object_id")
    body = await _get_json(
        client,
        provider="hubspot",
        url=f"{base_url.rstrip('/')}/crm/v3/objects/contacts/{object_id}",
        params={"properties": ",".join(properties), "archived": "false"},
        headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        timeout_s=timeout_s,
    )
    return hubspot_contact_update(body)
