"""From an adapter's lead to the row and first timeline event that `leadwire_ingest` stores.

Pure: `prepare` normalizes the lead with the tenant's `default_region` and `field_map`, decides
its status and priority, and fits every value into its column. Nothing a sender can put in a
payload makes the store fail: over-long text is cut to the column's size (the full value stays in
`raw`), and a state or postal code that does not fit its column is kept aside as unnormalized.

Status at intake:

* `rejected` / `invalid_phone`: the phone is missing or unusable (never dialed);
* `rejected` / `test_lead`: Google Ads "Send test data" deliveries (`is_test`), stored so the
  advertiser sees them arrive, never dialed;
* `pending_fetch`: ids-only deliveries (Meta, HubSpot events) whose fields `leads.process`
  fetches;
* `accepted`: everything else.

Priority at intake is the explicit urgency of the payload, else what `leads.urgency` detects in
the lead's own words; `leads.process` may raise it after enrichment, never lower an explicit one.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from leadwire.leads.canonical import InboundLead
from leadwire.leads.models import LeadStatus
from leadwire.leads.normalize import NormalizedLead, fingerprint, normalize
from leadwire.leads.urgency import UrgencyResult, urgency_of

__all__ = [
    "DUE_STATUSES",
    "RECEIVED_EVENT",
    "PreparedLead",
    "dedupe_key",
    "lead_columns",
    "prepare",
]

RECEIVED_EVENT = "lead.received"
DUE_STATUSES = frozenset({LeadStatus.PENDING_FETCH.value, LeadStatus.ACCEPTED.value})
"""Statuses whose work (`leads.process`) is due as soon as the lead is stored."""

# Column sizes of `leads` (migration 0001).
_SIZES = {
    "external_id": 300,
    "phone_raw": 64,
    "name": 300,
    "first_name": 150,
    "last_name": 150,
    "email": 320,
    "service": 300,
    "campaign_id": 300,
}
_DEDUPE_KEY_MAX = 300
_STATE_MAX = 2
_POSTAL_MAX = 16


@dataclass(frozen=True, slots=True)
class PreparedLead:
    """One lead ready for `repository.ingest_many`.

    `order_key` is what concurrent deliveries contend on (the natural key or the fingerprint):
    a batch is stored in that order so two overlapping batches cannot deadlock.
    """

    lead_id: uuid.UUID
    status: str
    priority: str
    order_key: str
    row: dict[str, Any]
    event: dict[str, Any]

    @property
    def due(self) -> bool:
        return self.status in DUE_STATUSES


def _fit(value: str | None, size: int) -> str | None:
    return value[:size] if value is not None and len(value) > size else value


def dedupe_key(natural_key: str) -> str:
    """The natural key as stored: unchanged when it fits the column, else a readable prefix and
    the SHA-256 of the whole key (still unique, still stable across redeliveries)."""
    if len(natural_key) <= _DEDUPE_KEY_MAX:
        return natural_key
    digest = hashlib.sha256(natural_key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"{natural_key[:200]}:sha256:{digest}"


def _status(lead: NormalizedLead) -> tuple[str, str | None]:
    if lead.is_test:
        return LeadStatus.REJECTED.value, "test_lead"
    if lead.rejection is not None:
        return LeadStatus.REJECTED.value, lead.rejection
    if lead.needs_fetch:
        return LeadStatus.PENDING_FETCH.value, None
    return LeadStatus.ACCEPTED.value, None


def _urgency_evidence(result: UrgencyResult) -> dict[str, Any]:
    return {
        "level": result.level.value,
        "source": result.source,
        "signals": [
            {"phrase": s.phrase, "level": s.level.value, "field": s.field} for s in result.signals
        ],
    }


def lead_columns(lead: NormalizedLead) -> dict[str, Any]:
    """The lead's own columns (not its status, keys or timestamps), fitted to their sizes.

    Also used by `leads.process` to store what a fetch completed. Values that do not fit a
    strict column (`state`, `postal_code`) are moved to `unnormalized` in `custom_fields`.
    """
    unnormalized = dict(lead.unnormalized)
    state = lead.state
    if state is not None and len(state) > _STATE_MAX:
        unnormalized["state"], state = state, None
    postal_code = lead.postal_code
    if postal_code is not None and len(postal_code) > _POSTAL_MAX:
        unnormalized["postal_code"], postal_code = postal_code, None
    custom: dict[str, Any] = dict(lead.custom_fields)
    if unnormalized:
        # Kept where the tenant sees them, under a key no form field is likely to use.
        custom["_unnormalized"] = unnormalized
    phone = lead.phone
    return {
        "external_id": _fit(lead.external_id, _SIZES["external_id"]),
        "phone_raw": _fit(lead.phone_raw, _SIZES["phone_raw"]),
        "phone_e164": phone.e164,
        "phone_info": phone.model_dump(mode="json", exclude={"e164"}),
        "name": _fit(lead.name, _SIZES["name"]),
        "first_name": _fit(lead.first_name, _SIZES["first_name"]),
        "last_name": _fit(lead.last_name, _SIZES["last_name"]),
        "email": _fit(lead.email, _SIZES["email"]),
        "service": _fit(lead.service, _SIZES["service"]),
        "postal_code": postal_code,
        "state": state,
        "campaign_id": _fit(lead.campaign_id, _SIZES["campaign_id"]),
        "message": lead.message,
        "consent": (
            lead.consent.model_dump(mode="json", exclude_none=True)
            if lead.consent is not None
            else None
        ),
        "custom_fields": custom,
    }


def prepare(
    lead: InboundLead,
    *,
    tenant_id: uuid.UUID,
    default_region: str,
    field_map: Mapping[str, str] | None = None,
    lead_id: uuid.UUID | None = None,
) -> PreparedLead:
    """Normalize one lead and build its row (every key a column of `leads`; absent keys take
    the function's defaults: `received_at`/`updated_at` now, `next_action_at` now for due work)
    and its `lead.received` event."""
    lead_id = lead_id or uuid.uuid4()
    normalized = normalize(lead, default_region=default_region, field_map=field_map)
    status, reject_reason = _status(normalized)
    urgency = urgency_of(normalized)
    columns = lead_columns(normalized)
    fp: str | None = None
    if normalized.natural_key is not None:
        key = dedupe_key(normalized.natural_key)
        order_key = key
    else:
        phone = normalized.phone.e164 or (normalized.phone_raw or "").strip() or None
        if phone or normalized.email:
            fp = fingerprint(tenant_id, phone, normalized.email, normalized.campaign_id)
            # Unique per lead; `leadwire_ingest` finds duplicates by `fingerprint` within 24 h.
            key = f"fp:{fp}:{lead_id}"
            order_key = f"fp:{fp}"
        else:
            key = order_key = f"{normalized.source}:id:{lead_id}"
    row: dict[str, Any] = {
        "id": lead_id,
        "tenant_id": tenant_id,
        "source": normalized.source,
        "dedupe_key": key,
        "fingerprint": fp,
        "status": status,
        "reject_reason": reject_reason,
        "priority": urgency.level.value,
        "urgency": normalized.urgency.value if normalized.urgency is not None else None,
        **columns,
        "raw": normalized.raw,
    }
    data: dict[str, Any] = {
        "source": normalized.source,
        "status": status,
        "priority": urgency.level.value,
        "urgency": _urgency_evidence(urgency),
    }
    if reject_reason is not None:
        data["reject_reason"] = reject_reason
        if reject_reason == "invalid_phone":
            data["phone_reason"] = normalized.phone.reason
    if normalized.needs_fetch:
        data["fetch"] = dict(normalized.fetch_ref)
    if normalized.unnormalized:
        data["unnormalized"] = sorted(normalized.unnormalized)
    return PreparedLead(
        lead_id=lead_id,
        status=status,
        priority=urgency.level.value,
        order_key=order_key,
        row={k: v for k, v in row.items() if v is not None},
        event={"kind": RECEIVED_EVENT, "data": data},
    )
