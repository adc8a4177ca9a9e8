"""Twilio's callback form parameters parsed into `CallbackEvent`s.

Only `CallSid` and `CallStatus` (or `AnsweredBy` on the AMD callback) are required: a callback
refused here is a callback Twilio will not send again, so a malformed optional field is read as
absent instead of failing the request (the raw form is stored by the caller anyway).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from leadwire.platform.errors import InvalidPayload
from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.state_machine import CallbackEvent

CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")

# `answered` is the event's name; Twilio sends CallStatus=in-progress for it. Accept the name
# too, in case a source reports the event instead of the status.
_STATUS_ALIASES = {"answered": CallStatus.IN_PROGRESS}


@dataclass(frozen=True, slots=True)
class ParsedCallback:
    call_sid: str
    account_sid: str | None
    event: CallbackEvent


def _call_sid(form: Mapping[str, str]) -> str:
    call_sid = form.get("CallSid", "")
    if not CALL_SID.match(call_sid):
        raise InvalidPayload("CallSid is missing or malformed", field="CallSid")
    return call_sid


def _int(form: Mapping[str, str], name: str) -> int | None:
    value = form.get(name, "").strip()
    return int(value) if value.isdecimal() else None


def _timestamp(form: Mapping[str, str]) -> datetime | None:
    value = form.get("Timestamp", "").strip()
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo is not None else None


def _answered_by(form: Mapping[str, str]) -> AnsweredBy | None:
    value = form.get("AnsweredBy", "").strip()
    if not value:
        return None
    try:
        return AnsweredBy(value)
    except ValueError:
        return AnsweredBy.UNKNOWN


def parse_status_callback(form: Mapping[str, str]) -> ParsedCallback:
    """A status callback, or the voice webhook's request (same parameters, no SequenceNumber)."""
    call_sid = _call_sid(form)
    raw_status = form.get("CallStatus", "").strip()
    try:
        status = _STATUS_ALIASES.get(raw_status) or CallStatus(raw_status)
    except ValueError:
        raise InvalidPayload("CallStatus is missing or unknown", field="CallStatus") from None
    event = CallbackEvent(
        status=status,
        sequence_number=_int(form, "SequenceNumber"),
        timestamp=_timestamp(form),
        duration_s=_int(form, "CallDuration"),
        billed_minutes=_int(form, "Duration"),
        error_code=_int(form, "ErrorCode"),
        sip_response_code=_int(form, "SipResponseCode"),
        answered_by=_answered_by(form),
    )
    return ParsedCallback(call_sid=call_sid, account_sid=form.get("AccountSid"), event=event)


def parse_amd_callback(form: Mapping[str, str]) -> ParsedCallback:
    """The asynchronous answering-machine detection result (`AsyncAmdStatusCallback`)."""
    call_sid = _call_sid(form)
    answered_by = _answered_by(form)
    if answered_by is None:
        raise InvalidPayload("AnsweredBy is missing", field="AnsweredBy")
    event = CallbackEvent(
        status=None,
        answered_by=answered_by,
        machine_detection_ms=_int(form, "MachineDetectionDuration"),
    )
    return ParsedCallback(call_sid=call_sid, account_sid=form.get("AccountSid"), event=event)
