"""The direct API: `POST /v1/leads` with `Authorization: Bearer <tenant api key>`.

Authentication is the route's API-key check (the tenants area), so this module only parses;
it is deliberately not a webhook source in `registry`. The body is `DirectLeadIn` (CONTRACT.md
section 5) or an array of up to 100 of them. Validation errors are 422s naming the field
(`phone`, `consent.timestamp`, `[2].urgency` for arrays).

Natural key: `api:ext:<external_id>` when given, else `api:idem:<Idempotency-Key>:<index>` when
the client sent an `Idempotency-Key` header, else none (fingerprint dedupe).
"""

from __future__ import annotations

from pydantic import JsonValue, ValidationError

from leadwire.leads.adapters._bodies import read_json
from leadwire.leads.adapters.base import InboundRequest
from leadwire.leads.canonical import DirectLeadIn, InboundLead, invalid_payload_from
from leadwire.platform.errors import InvalidPayload

__all__ = ["MAX_LEADS", "SOURCE", "parse_direct"]

SOURCE = "api"
MAX_LEADS = 100
_IDEMPOTENCY_KEY_MAX = 200


def _records(data: JsonValue) -> tuple[list[JsonValue], bool]:
    if isinstance(data, dict):
        return [data], False
    if isinstance(data, list):
        if not data:
            raise InvalidPayload("at least one lead is required", field="body")
        if len(data) > MAX_LEADS:
            raise InvalidPayload(f"at most {MAX_LEADS} leads per request", field="body")
        return list(data), True
    raise InvalidPayload("body must be a lead object or an array of them", field="body")


def parse_direct(request: InboundRequest) -> list[InboundLead]:
    records, is_array = _records(read_json(request))
    idempotency_key = (request.headers.get("idempotency-key") or "").strip()
    if len(idempotency_key) > _IDEMPOTENCY_KEY_MAX:
        raise InvalidPayload("Idempotency-Key is too long", field="Idempotency-Key")
    leads: list[InboundLead] = []
    for index, record in enumerate(records):
        prefix = f"[{index}]" if is_array else ""
        if not isinstance(record, dict):
            raise InvalidPayload("each lead must be an object", field=prefix or "body")
        try:
            body = DirectLeadIn.model_validate(record)
        except ValidationError as exc:
            raise invalid_payload_from(exc, prefix=prefix) from exc
        natural_key = None
        if body.external_id is None and idempotency_key:
            natural_key = f"{SOURCE}:idem:{idempotency_key}:{index}"
        leads.append(body.to_inbound(source=SOURCE, raw=record, natural_key=natural_key))
    return leads
