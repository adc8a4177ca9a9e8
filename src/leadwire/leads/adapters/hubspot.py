"""HubSpot: Webhooks API events and workflow "Send a webhook" posts (integrations.md section 2).

Signatures (key: the tenant's `client_secret`, else the platform's
`LEADWIRE_HUBSPOT_CLIENT_SECRET`):

* v3, preferred whenever `X-HubSpot-Signature-v3` is present (no fallback to v1/v2 when it
  fails, so a stripped or forged v3 cannot be downgraded): base64 HMAC-SHA256 of
  `method + uri + body + timestamp`, the URI with only HubSpot's twelve percent-escapes decoded,
  and `X-HubSpot-Request-Timestamp` (ms) within 5 minutes of now;
* otherwise the version named by `X-HubSpot-Signature-Version`: v1 = hex SHA-256 of
  `secret + body`, v2 = hex SHA-256 of `secret + method + uri + body`.

At a tenant-scoped endpoint with a configured `portal_id`, every event's `portalId` must match.

Payloads:

* a JSON array: Webhooks API events. Only `contact.creation` (also spelled in `eventType`) makes
  a lead: it carries the contact id only, so the lead `needs_fetch` (CRM contact read, see
  `leads.fetchers.fetch_hubspot_contact`). Other events (property changes, deletions, merges...)
  are acknowledged and ignored: treating every property change as a new lead would call the same
  person again and again.
* a JSON object: a workflow webhook. Both layouts HubSpot may send are read: `properties` as
  `{name: value}` (v3 objects, customized bodies nested by the user) and as
  `{name: {"value": ..., "versions": [...]}}` (legacy contact JSON): a property that is an object
  with a `value` key is read as that value. Without `properties`, the top-level keys are the
  properties (a customized flat body: `phone`, `email`, `firstname`, `hs_object_id`, ...). When
  the phone is missing but the object id is known, the lead is fetched like an event.

Natural key: `hubspot:<objectId>` for both (a contact is one lead, whichever way it arrived).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

from pydantic import JsonValue

from leadwire.leads.adapters._bodies import read_json
from leadwire.leads.adapters._json import as_object, digits_id, optional_digits_id
from leadwire.leads.adapters._security import equal
from leadwire.leads.adapters.base import Acknowledgement, InboundRequest
from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials
from leadwire.leads.adapters.fields import map_fields, take_urgency
from leadwire.leads.canonical import InboundLead
from leadwire.platform.errors import BadSignature, InvalidPayload, LeadwireError

__all__ = [
    "ADAPTER",
    "LEAD_EVENT_TYPES",
    "V3_MAX_AGE_S",
    "HubSpotAdapter",
    "hubspot_v1",
    "hubspot_v2",
    "hubspot_v3",
    "hubspot_v3_uri",
]

LEAD_EVENT_TYPES = frozenset({"contact.creation"})
V3_MAX_AGE_S = 300

_V3_ESCAPES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_V3_ESCAPE_RE = re.compile("|".join(re.escape(e) for e in _V3_ESCAPES), re.IGNORECASE)
_PORTAL_KEYS = ("portalId", "portal-id", "portal_id")
_OBJECT_ID_KEYS = ("hs_object_id", "vid", "canonical-vid", "objectId", "id")


def hubspot_v3_uri(uri: str) -> str:
    """The URI as HubSpot's v3 scheme signs it: only its twelve escapes decoded (any case)."""
    return _V3_ESCAPE_RE.sub(lambda m: _V3_ESCAPES[m.group(0).upper()], uri)


def hubspot_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def hubspot_v2(secret: str, method: str, uri: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + method.encode() + uri.encode() + body).hexdigest()


def hubspot_v3(secret: str, method: str, uri: str, body: bytes, timestamp_ms: str) -> str:
    message = method.encode() + hubspot_v3_uri(uri).encode() + body + timestamp_ms.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _portal_ids(data: JsonValue) -> list[str]:
    records = data if isinstance(data, list) else [data]
    portals: list[str] = []
    for record in records:
        if not isinstance(record, dict):
            continue
        for key in _PORTAL_KEYS:
            try:
                portal = optional_digits_id(record.get(key), field=key)
            except LeadwireError:
                continue
            if portal is not None:
                if portal not in portals:
                    portals.append(portal)
                break
    return portals


def _first_id(record: dict[str, JsonValue]) -> str | None:
    """The record's object id; a key that is not a numeric id (a customized body's own `id`)
    is passed over rather than refused."""
    for key in _OBJECT_ID_KEYS:
        try:
            found = optional_digits_id(record.get(key), field=key)
        except LeadwireError:
            continue
        if found is not None:
            return found
    return None


def _property_value(value: JsonValue) -> JsonValue:
    if isinstance(value, dict) and "value" in value:
        return value["value"]
    return value


class HubSpotAdapter:
    source = "hubspot"
    settings_key = "hubspot"
    app_level = True
    tenant_hint_kind = "portal_id"
    platform_signed = True

    def tenant_hints(self, request: InboundRequest) -> list[str]:
        try:
            return _portal_ids(read_json(request))
        except LeadwireError:
            return []

    def verify(
        self,
        request: InboundRequest,
        *,
        credentials: SourceCredentials | None,
        platform: PlatformSecrets,
        now: datetime | None = None,
    ) -> None:
        own = credentials.client_secret if credentials else None
        secret_str = own if own and own.get_secret_value() else platform.hubspot_client_secret
        if secret_str is None or not secret_str.get_secret_value():
            raise BadSignature("no HubSpot client secret is configured")
        secret = secret_str.get_secret_value()
        method = request.method.upper()
        headers = request.headers
        v3 = headers.get("x-hubspot-signature-v3")
        if v3 is not None:
            self._verify_v3(request, secret=secret, signature=v3, now=now or request.now)
        else:
            signature = headers.get("x-hubspot-signature")
            version = (headers.get("x-hubspot-signature-version") or "").strip().lower()
            if not signature:
                raise BadSignature("missing X-HubSpot-Signature")
            if version == "v1":
                expected = hubspot_v1(secret, request.body)
            elif version == "v2":
                expected = hubspot_v2(secret, method, request.url, request.body)
            else:
                raise BadSignature("missing or unknown X-HubSpot-Signature-Version")
            if not equal(expected, signature.strip().lower()):
                raise BadSignature(f"HubSpot {version} signature does not match")
        if credentials is not None and credentials.portal_id is not None:
            portal = str(credentials.portal_id)
            if any(p != portal for p in self.tenant_hints(request)):
                raise BadSignature("the delivery names a portal this tenant did not configure")

    @staticmethod
    def _verify_v3(request: InboundRequest, *, secret: str, signature: str, now: datetime) -> None:
        timestamp = request.headers.get("x-hubspot-request-timestamp")
        well_formed = timestamp and timestamp.isascii() and timestamp.isdigit()
        if not timestamp or not well_formed or len(timestamp) > 16:
            raise BadSignature("missing or malformed X-HubSpot-Request-Timestamp")
        if abs(now.timestamp() * 1000 - int(timestamp)) > V3_MAX_AGE_S * 1000:
            raise BadSignature("X-HubSpot-Request-Timestamp is outside the 5-minute window")
        expected = hubspot_v3(secret, request.method.upper(), request.url, request.body, timestamp)
        if not equal(expected, signature.strip()):
            raise BadSignature("HubSpot v3 signature does not match")

    def parse(self, request: InboundRequest) -> list[InboundLead]:
        data = read_json(request)
        if isinstance(data, list):
            return self._events(data)
        if isinstance(data, dict):
            return [self._workflow(data)]
        raise InvalidPayload("body must be an array of events or a workflow object", field="body")

    def _events(self, events: list[JsonValue]) -> list[InboundLead]:
        leads: list[InboundLead] = []
        for i, raw_event in enumerate(events):
            event = as_object(raw_event, field=f"[{i}]")
            kind = event.get("subscriptionType", event.get("eventType"))
            if not isinstance(kind, str) or kind not in LEAD_EVENT_TYPES:
                continue
            object_id = digits_id(event.get("objectId"), field=f"[{i}].objectId")
            portal_id = optional_digits_id(event.get("portalId"), field=f"[{i}].portalId")
            fetch_ref = {"object_id": object_id}
            if portal_id is not None:
                fetch_ref["portal_id"] = portal_id
            leads.append(
                InboundLead(
                    source=self.source,
                    natural_key=f"hubspot:{object_id}",
                    external_id=object_id,
                    needs_fetch=True,
                    fetch_ref=fetch_ref,
                    tenant_hint=portal_id,
                    raw=event,
                )
            )
        return leads

    def _workflow(self, body: dict[str, JsonValue]) -> InboundLead:
        nested = body.get("properties")
        if nested is not None and not isinstance(nested, dict):
            raise InvalidPayload("must be an object", field="properties")
        source_props = nested if nested is not None else body
        props = {key: _property_value(value) for key, value in source_props.items()}
        object_id = _first_id(props) or _first_id(body)
        portal_id = next(iter(_portal_ids(body)), None)
        skip = set(_OBJECT_ID_KEYS) | set(_PORTAL_KEYS) if nested is None else {"hs_object_id"}
        mapped = map_fields({k: v for k, v in props.items() if k not in skip})
        urgency = take_urgency(mapped)
        fields = mapped.fields
        needs_fetch = "phone" not in fields and object_id is not None
        fetch_ref: dict[str, str] = {}
        if needs_fetch and object_id is not None:
            fetch_ref["object_id"] = object_id
            if portal_id is not None:
                fetch_ref["portal_id"] = portal_id
        return InboundLead(
            source=self.source,
            natural_key=f"hubspot:{object_id}" if object_id else None,
            external_id=object_id,
            name=fields.get("name"),
            first_name=fields.get("first_name"),
            last_name=fields.get("last_name"),
            phone=fields.get("phone"),
            email=fields.get("email"),
            service=fields.get("service"),
            postal_code=fields.get("postal_code"),
            state=fields.get("state"),
            campaign_id=fields.get("campaign_id"),
            message=fields.get("message"),
            urgency=urgency,
            custom_fields=mapped.custom,
            needs_fetch=needs_fetch,
            fetch_ref=fetch_ref,
            tenant_hint=portal_id,
            raw=body,
        )

    def acknowledgement(self) -> Acknowledgement | None:
        return None

    def error_response(self, error: LeadwireError) -> Acknowledgement | None:
        return None


ADAPTER = HubSpotAdapter()
