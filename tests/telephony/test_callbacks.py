from datetime import UTC, datetime

import pytest

from leadwire.platform.errors import InvalidPayload
from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.callbacks import parse_amd_callback, parse_status_callback
from leadwire.telephony.state_machine import CallbackEvent

SID = "CA" + "0123456789abcdef" * 2

# A terminal status callback as Twilio sends it (reference/integrations.md §6.2).
COMPLETED = {
    "AccountSid": "AC" + "f" * 32,
    "ApiVersion": "2010-04-01",
    "CallSid": SID,
    "CallStatus": "completed",
    "Called": "+15125550100",
    "Caller": "+15125550101",
    "CallbackSource": "call-progress-events",
    "Direction": "outbound-api",
    "From": "+15125550101",
    "To": "+15125550100",
    "SequenceNumber": "3",
    "Timestamp": "Sun, 25 Mar 2018 09:53:19 +0000",
    "CallDuration": "42",
    "Duration": "1",
    "SipResponseCode": "200",
}


def test_a_terminal_status_callback() -> None:
    parsed = parse_status_callback(COMPLETED)
    assert parsed.call_sid == SID
    assert parsed.account_sid == "AC" + "f" * 32
    assert parsed.event == CallbackEvent(
        status=CallStatus.COMPLETED,
        sequence_number=3,
        timestamp=datetime(2018, 3, 25, 9, 53, 19, tzinfo=UTC),
        duration_s=42,
        billed_minutes=1,
        sip_response_code=200,
    )


def test_a_failed_call_carries_its_error_code() -> None:
    form = {**COMPLETED, "CallStatus": "failed", "ErrorCode": "13224", "ErrorMessage": "x"}
    assert parse_status_callback(form).event.error_code == 13224


def test_answered_is_read_as_in_progress() -> None:
    form = {**COMPLETED, "CallStatus": "answered"}
    assert parse_status_callback(form).event.status is CallStatus.IN_PROGRESS


@pytest.mark.parametrize(
    ("field", "value"),
    [("SequenceNumber", "x"), ("CallDuration", "-1"), ("Timestamp", "yesterday"), ("Duration", "")],
)
def test_malformed_optional_fields_are_read_as_absent(field: str, value: str) -> None:
    event = parse_status_callback({**COMPLETED, field: value}).event
    assert event.status is CallStatus.COMPLETED
    attribute = {
        "SequenceNumber": "sequence_number",
        "CallDuration": "duration_s",
        "Timestamp": "timestamp",
        "Duration": "billed_minutes",
    }[field]
    assert getattr(event, attribute) is None


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({**COMPLETED, "CallSid": "CA123"}, "CallSid"),
        ({k: v for k, v in COMPLETED.items() if k != "CallSid"}, "CallSid"),
        ({**COMPLETED, "CallStatus": "exploded"}, "CallStatus"),
        ({k: v for k, v in COMPLETED.items() if k != "CallStatus"}, "CallStatus"),
    ],
)
def test_required_fields(form: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidPayload) as caught:
        parse_status_callback(form)
    assert caught.value.field == field


def test_the_async_amd_callback() -> None:
    parsed = parse_amd_callback(
        {
            "AccountSid": "AC" + "f" * 32,
            "CallSid": SID,
            "AnsweredBy": "machine_end_beep",
            "MachineDetectionDuration": "4211",
        }
    )
    assert parsed.event == CallbackEvent(
        status=None, answered_by=AnsweredBy.MACHINE_END_BEEP, machine_detection_ms=4211
    )


def test_an_unknown_amd_result_is_unknown_and_a_missing_one_is_refused() -> None:
    odd = parse_amd_callback({"CallSid": SID, "AnsweredBy": "robot"})
    assert odd.event.answered_by is AnsweredBy.UNKNOWN
    with pytest.raises(InvalidPayload) as caught:
        parse_amd_callback({"CallSid": SID})
    assert caught.value.field == "AnsweredBy"
