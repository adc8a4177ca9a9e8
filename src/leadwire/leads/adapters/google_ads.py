"""Google Ads lead form webhook (`WebhookLead`, integrations.md section 4).

Authentication: no header signature; the body's `google_key` (the secret the advertiser typed
into Google Ads) is compared in constant time with the tenant's `google_key`.

Tenant resolution at the app-level endpoint: the key identifies the advertiser, but it is a
secret, so it is neither returned as a hint nor stored in leads. `tenant_hints` returns
`google_key_fingerprint(google_key)` (SHA-256 hex); the tenants area keeps the same fingerprint
of each tenant's configured key as a lookup column, and `verify` then compares the real keys.
The `google_key` is replaced by `"***"` in the lead's `raw` copy.

Payload: one lead per POST; `lead_id` is the natural key (`google-ads:<lead_id>`);
`user_column_data[]` answers are mapped by `column_id` case-insensitively (`FULL_NAME`,
`FIRST_NAME`, `LAST_NAME`, `EMAIL`/`WORK_EMAIL`, `PHONE_NUMBER`/`WORK_PHONE`, `POSTAL_CODE`,
`REGION`, `SERVICE`...); other columns (`CITY`, custom questions) are custom fields keyed by
their `column_id`. `is_test` ("Send test data") is kept on the lead so it is never dialed.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import JsonValue

from leadwire.leads.adapters._bodies import read_json
from leadwire.leads.adapters._json import as_list, as_object, optional_digits_id, optional_text
from leadwire.leads.adapters._security import equal
from leadwire.leads.adapters.base import Acknowledgement, InboundRequest
from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials
from leadwire.leads.adapters.fields import map_fields, take_urgency
from leadwire.leads.canonical import InboundLead
from leadwire.platform.errors import BadSignature, InvalidPayload, LeadwireError
from leadwire.tenants.source_keys import google_key_fingerprint

__all__ = ["ADAPTER", "GoogleAdsAdapter", "google_key_fingerprint"]

_REDACTED = "***"


def _body_key(request: InboundRequest) -> str | None:
    try:
        data = read_json(request)
    except LeadwireError:
        return None
    key = data.get("google_key") if isinstance(data, dict) else None
    return key if isinstance(key, str) and key else None


class GoogleAdsAdapter:
    source = "google-ads"
    settings_key = "google_ads"
    app_level = True
    tenant_hint_kind = "google_key_sha256"
    platform_signed = False

    def tenant_hints(self, request: InboundRequest) -> list[str]:
        key = _body_key(request)
        return [google_key_fingerprint(key)] if key else []

    def verify(
        self,
        request: InboundRequest,
        *,
        credentials: SourceCredentials | None,
        platform: PlatformSecrets,
        now: datetime | None = None,
    ) -> None:
        configured = credentials.google_key if credentials else None
        if configured is None or not configured.get_secret_value():
            raise BadSignature("no Google Ads google_key is configured")
        key = _body_key(request)
        if key is None:
            raise BadSignature("the delivery carries no google_key")
        if not equal(key, configured.get_secret_value()):
            raise BadSignature("google_key does not match")

    def parse(self, request: InboundRequest) -> list[InboundLead]:
        body = as_object(read_json(request), field="")
        lead_id = optional_text(body.get("lead_id"), field="lead_id")
        if lead_id is None:
            raise InvalidPayload("is required", field="lead_id")
        answers: dict[str, JsonValue] = {}
        columns = body.get("user_column_data")
        columns = as_list(columns, field="user_column_data") if columns is not None else []
        for i, raw_column in enumerate(columns):
            column = as_object(raw_column, field=f"user_column_data[{i}]")
            column_id = optional_text(
                column.get("column_id"), field=f"user_column_data[{i}].column_id"
            )
            if column_id is None:
                raise InvalidPayload("is required", field=f"user_column_data[{i}].column_id")
            value = optional_text(
                column.get("string_value"),
                field=f"user_column_data[{i}].string_value",
                max_length=10_000,
            )
            if value is not None:
                answers.setdefault(column_id, value)
        is_test = body.get("is_test", False)
        if not isinstance(is_test, bool):
            raise InvalidPayload("must be a boolean", field="is_test")
        campaign_id = optional_digits_id(body.get("campaign_id"), field="campaign_id")
        for id_field in ("form_id", "adgroup_id", "creative_id", "asset_group_id"):
            optional_digits_id(body.get(id_field), field=id_field)
        mapped = map_fields(answers)
        urgency = take_urgency(mapped)
        fields = mapped.fields
        key = body.get("google_key")
        raw = {**body, "google_key": _REDACTED} if "google_key" in body else dict(body)
        return [
            InboundLead(
                source=self.source,
                natural_key=f"google-ads:{lead_id}",
                external_id=lead_id,
                name=fields.get("name"),
                first_name=fields.get("first_name"),
                last_name=fields.get("last_name"),
                phone=fields.get("phone"),
                email=fields.get("email"),
                service=fields.get("service"),
                urgency=urgency,
                postal_code=fields.get("postal_code"),
                state=fields.get("state"),
                campaign_id=campaign_id or fields.get("campaign_id"),
                message=fields.get("message"),
                custom_fields=mapped.custom,
                is_test=is_test,
                tenant_hint=google_key_fingerprint(key) if isinstance(key, str) and key else None,
                raw=raw,
            )
        ]

    def acknowledgement(self) -> Acknowledgement | None:
        return None

    def error_response(self, error: LeadwireError) -> Acknowledgement | None:
        return None


ADAPTER = GoogleAdsAdapter()
