"""The generic lead body shared by Zapier and website forms.

Accepted bodies: a JSON object, a JSON array of objects (Zapier's "Wrap Request In Array"), an
`application/x-www-form-urlencoded` or `multipart/form-data` form. Each record becomes one lead:

* common field names are recognized (`fields.ALIASES`); every other key is kept as a custom
  field (the tenant's `field_map` is applied later, by `normalize`, for every source alike);
* `custom_fields` (an object) is merged into the custom fields;
* `urgency` is taken when it is one of `emergency|high|medium|low` (any case); another value is
  kept as a custom field for urgency detection to read, not refused: a form's "ASAP" option must
  not cost the lead;
* consent: `consent` as an object (the contract's shape, validated: a wrong field is a 422
  naming it) or as a checkbox value (`true`, `on`, `yes`, `1`...), plus flat `consent_<field>`
  keys (`consent_text`, `consent_timestamp`, ...);
* natural key: `<source>:ext:<external_id>` when the record names one, else
  `<source>:wh:<webhook-id>:<index>` when the delivery carries a Standard Webhooks id (stable
  across retries), else none (the intake dedupes by fingerprint).
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from pydantic import JsonValue, ValidationError

from leadwire.leads.adapters._bodies import FORM_MEDIA_TYPES, is_json_media_type, read_form
from leadwire.leads.adapters._bodies import read_json as _read_json
from leadwire.leads.adapters.base import InboundRequest
from leadwire.leads.adapters.fields import field_key, map_fields, take_urgency
from leadwire.leads.canonical import (
    ConsentEvidence,
    InboundLead,
    invalid_payload_from,
)
from leadwire.platform.errors import InvalidPayload, UnsupportedMediaType

__all__ = ["generic_leads", "generic_records"]

_TRUE = frozenset({"true", "on", "yes", "y", "1", "checked", "agree", "agreed", "accepted"})
_FALSE = frozenset({"false", "off", "no", "n", "0", "unchecked", ""})
_CONSENT_FIELDS = frozenset(ConsentEvidence.model_fields) - {"disclaimer_responses"}
_MAX_RECORDS = 100


def generic_records(request: InboundRequest) -> tuple[list[dict[str, JsonValue]], bool]:
    """The records of a generic body (see the module docstring), and whether the body was an
    array (error fields are then prefixed with the record's index, `[1].consent.ip`)."""
    media_type = request.media_type
    if media_type in FORM_MEDIA_TYPES:
        record: dict[str, JsonValue] = {}
        for name, value in read_form(request).items():
            record[name] = [*value] if isinstance(value, list) else value
        return [record], False
    if not is_json_media_type(media_type):
        raise UnsupportedMediaType(
            "expected application/json, application/x-www-form-urlencoded or multipart/form-data"
        )
    data = _read_json(request, missing_type_ok=False)
    if isinstance(data, dict):
        return [data], False
    if isinstance(data, list):
        if len(data) > _MAX_RECORDS:
            raise InvalidPayload(f"at most {_MAX_RECORDS} leads per request", field="body")
        records: list[dict[str, JsonValue]] = []
        for index, item in enumerate(data):
            if not isinstance(item, dict):
                raise InvalidPayload("each lead must be an object", field=f"[{index}]")
            records.append(item)
        return records, True
    raise InvalidPayload("body must be an object or an array of objects", field="body")


def _checkbox(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return None


def _consent(
    record: Mapping[str, JsonValue], *, prefix: str
) -> tuple[ConsentEvidence | None, set[str]]:
    """Consent evidence from a record, and the keys it consumed."""
    used: set[str] = set()
    evidence: dict[str, Any] = {}
    for key, value in record.items():
        norm = field_key(key)
        if norm == "consent":
            used.add(key)
            if isinstance(value, dict):
                evidence.update(value)
            else:
                checked = _checkbox(value)
                if checked is None:
                    raise InvalidPayload(
                        "consent must be an object or a checkbox value", field=f"{prefix}consent"
                    )
                evidence.setdefault("granted", checked)
        elif norm.startswith("consent_") and norm.removeprefix("consent_") in _CONSENT_FIELDS:
            used.add(key)
            name = norm.removeprefix("consent_")
            evidence[name] = _checkbox(value) if name == "granted" else value
    if not evidence:
        return None, used
    try:
        return ConsentEvidence.model_validate(evidence), used
    except ValidationError as exc:
        raise invalid_payload_from(exc, prefix=f"{prefix}consent") from exc


def _with_request_evidence(consent: ConsentEvidence, request: InboundRequest) -> ConsentEvidence:
    """Fill what a browser post proves about itself: where it came from and with what."""
    missing: dict[str, Any] = {}
    if consent.ip is None and request.client_ip:
        with contextlib.suppress(ValidationError):  # an unparseable address is no evidence
            missing["ip"] = ConsentEvidence(ip=request.client_ip).ip
    if consent.user_agent is None and request.headers.get("user-agent"):
        missing["user_agent"] = request.headers["user-agent"][:2_000]
    if consent.page_url is None and request.headers.get("referer"):
        missing["page_url"] = request.headers["referer"][:4_000]
    if consent.timestamp is None:
        missing["timestamp"] = request.now
    return consent.model_copy(update=missing) if missing else consent


def generic_leads(
    request: InboundRequest,
    *,
    source: str,
    records: list[dict[str, JsonValue]],
    is_array: bool = False,
    drop_keys: frozenset[str] = frozenset(),
    request_evidence: bool = False,
) -> list[InboundLead]:
    """One lead per record. `drop_keys` (exact names) are removed first (form honeypots,
    CAPTCHA tokens); `request_evidence` fills consent evidence from the request."""
    leads: list[InboundLead] = []
    webhook_id = request.headers.get("webhook-id")
    for index, original in enumerate(records):
        prefix = f"[{index}]." if is_array else ""
        record = {k: v for k, v in original.items() if k not in drop_keys}
        consent, used = _consent(record, prefix=prefix)
        if consent is not None and request_evidence:
            consent = _with_request_evidence(consent, request)
        explicit_custom = record.get("custom_fields")
        if explicit_custom is not None and not isinstance(explicit_custom, dict):
            raise InvalidPayload("custom_fields must be an object", field=f"{prefix}custom_fields")
        flat = {k: v for k, v in record.items() if k not in used and k != "custom_fields"}
        mapped = map_fields(flat)
        urgency = take_urgency(mapped)
        custom: dict[str, JsonValue] = {**mapped.custom, **(explicit_custom or {})}
        fields = mapped.fields
        external_id = fields.get("external_id")
        natural_key: str | None = None
        if external_id is not None:
            natural_key = f"{source}:ext:{external_id}"
        elif webhook_id:
            natural_key = f"{source}:wh:{webhook_id}:{index}"
        leads.append(
            InboundLead(
                source=source,
                natural_key=natural_key,
                external_id=external_id,
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
                consent=consent,
                custom_fields=custom,
                raw=record,
            )
        )
    return leads
