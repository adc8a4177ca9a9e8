"""`CallState` to and from the JSON stored in `calls.state` (pure)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.state_machine import CallState

_TIMES = ("initiated_at", "ringing_at", "answered_at", "ended_at")
_INTS = ("duration_s", "billed_minutes", "error_code", "sip_response_code", "machine_detection_ms")


def to_json(state: CallState) -> dict[str, Any]:
    data: dict[str, Any] = {
        "status": state.status.value,
        "final_key": list(state.final_key) if state.final_key is not None else None,
        "sequences": sorted(state.sequences),
        "price": str(state.price) if state.price is not None else None,
        "price_unit": state.price_unit,
        "answered_by": state.answered_by.value if state.answered_by else None,
    }
    for name in _INTS:
        data[name] = getattr(state, name)
    for name in _TIMES:
        value = getattr(state, name)
        data[name] = value.isoformat() if value is not None else None
    return data


def from_json(data: dict[str, Any] | None) -> CallState:
    if not data:
        return CallState()
    final_key = data.get("final_key")
    values: dict[str, Any] = {
        "status": CallStatus(data.get("status", CallStatus.QUEUED.value)),
        "final_key": (int(final_key[0]), int(final_key[1])) if final_key else None,
        "sequences": frozenset(int(s) for s in data.get("sequences") or ()),
        "price": Decimal(data["price"]) if data.get("price") is not None else None,
        "price_unit": data.get("price_unit"),
        "answered_by": AnsweredBy(data["answered_by"]) if data.get("answered_by") else None,
    }
    for name in _INTS:
        values[name] = data.get(name)
    for name in _TIMES:
        raw = data.get(name)
        values[name] = dt.datetime.fromisoformat(raw) if raw else None
    return CallState(**values)
