import base64
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from leadwire.platform.classify import Policy, TransportCode, classify
from leadwire.platform.errors import ErrorClass, ExternalServiceError
from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.providers.twilio import TwilioProvider, retry_after_seconds

ACCOUNT = "AC" + "c" * 32
TOKEN = "t" * 32
API = "https://api.twilio.com"
CALLS = f"{API}/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
SID = "CA" + "d" * 32
CALL = f"{API}/2010-04-01/Accounts/{ACCOUNT}/Calls/{SID}.json"
TO = "+15125550100"
FROM = "+15125550101"
PUBLIC = "https://leadwire.example"


def call_resource(**overrides: Any) -> dict[str, Any]:
    """A Call resource as Twilio's API answers it (reference/integrations.md §6.1)."""
    resource: dict[str, Any] = {
        "account_sid": ACCOUNT,
        "annotation": None,
        "answered_by": None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": "Sat, 21 Nov 2026 15:00:00 +0000",
        "date_updated": "Sat, 21 Nov 2026 15:00:00 +0000",
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": FROM,
        "from_formatted": "(512) 555-0101",
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": "PN" + "e" * 32,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": SID,
        "start_time": None,
        "status": "queued",
        "subresource_uris": {},
        "to": TO,
        "to_formatted": "(512) 555-0100",
        "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{SID}.json",
    }
    resource.update(overrides)
    return resource


def twilio_error(code: int, status: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def twilio(http: httpx.AsyncClient) -> TwilioProvider:
    return TwilioProvider(account_sid=ACCOUNT, auth_token=TOKEN, http=http)


async def _create(twilio: TwilioProvider) -> Any:
    return await twilio.create_call(
        to=TO,
        from_=FROM,
        voice_url=f"{PUBLIC}/v1/telephony/twilio/voice/42",
        status_callback_url=f"{PUBLIC}/v1/telephony/twilio/status",
        amd_callback_url=f"{PUBLIC}/v1/telephony/twilio/amd",
        timeout_s=30,
        idempotency_ref="42",
    )


EXPECTED_BODY = (
    "To=%2B15125550100"
    "&From=%2B15125550101"
    "&Url=https%3A%2F%2Fleadwire.example%2Fv1%2Ftelephony%2Ftwilio%2Fvoice%2F42"
    "&Method=POST"
    "&StatusCallback=https%3A%2F%2Fleadwire.example%2Fv1%2Ftelephony%2Ftwilio%2Fstatus"
    "&StatusCallbackEvent=initiated"
    "&StatusCallbackEvent=ringing"
    "&StatusCallbackEvent=answered"
    "&StatusCallbackEvent=completed"
    "&StatusCallbackMethod=POST"
    "&MachineDetection=DetectMessageEnd"
    "&AsyncAmd=true"
    "&AsyncAmdStatusCallback=https%3A%2F%2Fleadwire.example%2Fv1%2Ftelephony%2Ftwilio%2Famd"
    "&AsyncAmdStatusCallbackMethod=POST"
    "&Timeout=30"
)


async def test_create_call_sends_the_documented_form(twilio: TwilioProvider) -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(CALLS).respond(201, json=call_resource())
        call = await _create(twilio)
    request = route.calls.last.request
    assert request.content.decode() == EXPECTED_BODY
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert request.headers["Accept"] == "application/json"
    credentials = base64.b64encode(f"{ACCOUNT}:{TOKEN}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {credentials}"
    assert call.sid == SID
    assert call.status is CallStatus.QUEUED
    assert (call.to, call.from_, call.queue_time_ms) == (TO, FROM, 0)
    assert call.date_created == datetime(2026, 11, 21, 15, 0, tzinfo=UTC)


async def test_the_api_base_is_configurable(http: httpx.AsyncClient) -> None:
    fake = TwilioProvider(
        account_sid=ACCOUNT, auth_token=TOKEN, http=http, api_base="http://127.0.0.1:9999/"
    )
    with respx.mock(assert_all_called=True) as router:
        router.post(f"http://127.0.0.1:9999/2010-04-01/Accounts/{ACCOUNT}/Calls.json").respond(
            201, json=call_resource()
        )
        assert (await _create(fake)).sid == SID


@pytest.mark.parametrize("timeout_s", [14, 601])
async def test_the_ring_time_stays_within_compliance_and_twilio_bounds(
    twilio: TwilioProvider, timeout_s: int
) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        await twilio.create_call(
            to=TO,
            from_=FROM,
            voice_url="https://x",
            status_callback_url="https://x",
            amd_callback_url="https://x",
            timeout_s=timeout_s,
            idempotency_ref="1",
        )


@pytest.mark.parametrize(
    ("code", "status", "message", "error_class", "policy"),
    [
        (20429, 429, "Too Many Requests", ErrorClass.RATE_LIMIT, Policy.DELAY_UNTIL_RESET),
        (
            21211,
            400,
            "The 'To' number +15125550100 is not a valid phone number.",
            ErrorClass.VALIDATION,
            Policy.NO_RETRY,
        ),
        (
            21215,
            400,
            "Account not authorized to call +15125550100. Perhaps you need to enable some "
            "international permissions: https://www.twilio.com/console/voice/calls/geo-permissions",
            ErrorClass.SYSTEM,
            Policy.NO_RETRY,
        ),
        (
            21217,
            400,
            "Phone number does not appear to be valid",
            ErrorClass.VALIDATION,
            Policy.NO_RETRY,
        ),
        (
            13224,
            400,
            "Twilio does not support calling this number or the number is invalid",
            ErrorClass.EXTERNAL,
            Policy.PROVIDER_SPECIFIC,
        ),
    ],
)
async def test_twilio_errors_become_classified_external_errors(
    twilio: TwilioProvider,
    code: int,
    status: int,
    message: str,
    error_class: ErrorClass,
    policy: Policy,
) -> None:
    headers = {"Retry-After": "3"} if status == 429 else {}
    with respx.mock() as router:
        router.post(CALLS).respond(
            status, json=twilio_error(code, status, message), headers=headers
        )
        with pytest.raises(ExternalServiceError) as caught:
            await _create(twilio)
    error = caught.value
    assert (error.provider, error.provider_code, error.http_status) == ("twilio", code, status)
    assert error.retry_after_s == (3.0 if status == 429 else None)
    classification = classify(error)
    assert (classification.error_class, classification.policy) == (error_class, policy)
    assert classification.code == f"twilio.{code}"
    # Twilio's message may quote the phone number; ours never does.
    assert "5550100" not in str(error)
    assert f"https://www.twilio.com/docs/errors/{code}" in str(error)


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(503, text="<html>Service Unavailable</html>"),
        httpx.Response(503, json=twilio_error(20503, 503, "Service unavailable")),
    ],
)
async def test_a_503_is_temporary(twilio: TwilioProvider, response: httpx.Response) -> None:
    with respx.mock() as router:
        router.post(CALLS).mock(return_value=response)
        with pytest.raises(ExternalServiceError) as caught:
            await _create(twilio)
    assert caught.value.http_status == 503
    classification = classify(caught.value)
    assert (classification.error_class, classification.retryable) == (ErrorClass.TEMPORARY, True)


@pytest.mark.parametrize(
    ("side_effect", "transport"),
    [
        (httpx.ReadTimeout("read timed out"), TransportCode.TIMEOUT),
        (httpx.ConnectTimeout("connect timed out"), TransportCode.TIMEOUT),
        (httpx.ConnectError("refused"), TransportCode.NETWORK),
        (httpx.RemoteProtocolError("peer closed"), TransportCode.NETWORK),
    ],
)
async def test_transport_failures_never_leak_httpx(
    twilio: TwilioProvider, side_effect: Exception, transport: TransportCode
) -> None:
    with respx.mock() as router:
        router.post(CALLS).mock(side_effect=side_effect)
        with pytest.raises(ExternalServiceError) as caught:
            await _create(twilio)
    assert not isinstance(caught.value, httpx.HTTPError)
    assert (caught.value.provider_code, caught.value.http_status) == (transport, None)
    assert classify(caught.value).error_class is ErrorClass.TEMPORARY


async def test_an_unreadable_success_is_a_bad_response(twilio: TwilioProvider) -> None:
    with respx.mock() as router:
        router.post(CALLS).respond(201, text="not json")
        with pytest.raises(ExternalServiceError) as caught:
            await _create(twilio)
    assert caught.value.provider_code == TransportCode.BAD_RESPONSE


async def test_fetch_call_reads_price_duration_and_amd(twilio: TwilioProvider) -> None:
    finished = call_resource(
        status="completed",
        start_time="Sat, 21 Nov 2026 15:00:02 +0000",
        end_time="Sat, 21 Nov 2026 15:01:37 +0000",
        duration="95",
        price="-0.02800",
        answered_by="machine_end_beep",
    )
    with respx.mock(assert_all_called=True) as router:
        router.get(CALL).respond(200, json=finished)
        call = await twilio.fetch_call(SID)
    assert call.status is CallStatus.COMPLETED
    assert (call.duration_s, call.price, call.price_unit) == (95, Decimal("-0.02800"), "USD")
    assert call.answered_by is AnsweredBy.MACHINE_END_BEEP
    assert call.end_time == datetime(2026, 11, 21, 15, 1, 37, tzinfo=UTC)
    event = call.to_event()
    assert (event.status, event.duration_s, event.sequence_number) == (
        CallStatus.COMPLETED,
        95,
        None,
    )


async def test_hangup_completes_the_call(twilio: TwilioProvider) -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(CALL).respond(200, json=call_resource(status="completed"))
        await twilio.hangup(SID)
    assert route.calls.last.request.content == b"Status=completed"


async def test_hangup_cancels_a_call_that_is_not_answered_yet(twilio: TwilioProvider) -> None:
    with respx.mock(assert_all_called=True) as router:
        route = router.post(CALL).mock(
            side_effect=[
                httpx.Response(400, json=twilio_error(21220, 400, "Invalid call state")),
                httpx.Response(200, json=call_resource(status="canceled")),
            ]
        )
        await twilio.hangup(SID)
    assert [c.request.content for c in route.calls] == [b"Status=completed", b"Status=canceled"]


@pytest.mark.parametrize("code", [20404, 21220])
async def test_hanging_up_a_call_that_already_ended_is_not_an_error(
    twilio: TwilioProvider, code: int
) -> None:
    status = 404 if code == 20404 else 400
    with respx.mock() as router:
        router.post(CALL).respond(status, json=twilio_error(code, status, "gone"))
        await twilio.hangup(SID)


async def test_hangup_surfaces_other_failures(twilio: TwilioProvider) -> None:
    with respx.mock() as router:
        router.post(CALL).respond(429, json=twilio_error(20429, 429, "Too Many Requests"))
        with pytest.raises(ExternalServiceError):
            await twilio.hangup(SID)


async def test_update_twiml_replaces_what_the_call_does(twilio: TwilioProvider) -> None:
    twiml = "<Response><Hangup /></Response>"
    with respx.mock(assert_all_called=True) as router:
        route = router.post(CALL).respond(200, json=call_resource(status="in-progress"))
        await twilio.update_twiml(SID, twiml=twiml)
    assert dict(parse_qsl(route.calls.last.request.content.decode())) == {"Twiml": twiml}


async def test_update_twiml_refuses_what_twilio_would_refuse(twilio: TwilioProvider) -> None:
    with pytest.raises(ValueError, match="4000"):
        await twilio.update_twiml(SID, twiml="<Response><Say>" + "a" * 4000 + "</Say></Response>")


async def test_find_call_asks_by_numbers_and_start_time_and_for_queued_calls(
    twilio: TwilioProvider,
) -> None:
    after = datetime(2026, 11, 21, 14, 59, 30, tzinfo=UTC)
    earlier = call_resource(sid="CA" + "1" * 32, date_created="Sat, 21 Nov 2026 14:00:00 +0000")
    dialed = call_resource(sid="CA" + "2" * 32, status="in-progress")
    queued = call_resource(sid="CA" + "3" * 32, date_created="Sat, 21 Nov 2026 15:00:05 +0000")

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("Status") == "queued":
            return httpx.Response(200, json={"calls": [queued], "page": 0, "page_size": 50})
        return httpx.Response(200, json={"calls": [earlier, dialed], "page": 0, "page_size": 50})

    with respx.mock(assert_all_called=True) as router:
        route = router.get(CALLS).mock(side_effect=answer)
        found = await twilio.find_call(to=TO, from_=FROM, started_after=after)
    queries = [dict(call.request.url.params) for call in route.calls]
    assert queries == [
        {"To": TO, "From": FROM, "StartTime>": "2026-11-21", "PageSize": "50"},
        {"To": TO, "From": FROM, "Status": "queued", "PageSize": "50"},
    ]
    assert "StartTime%3E=2026-11-21" in str(route.calls[0].request.url)
    assert [call.sid for call in found] == [queued["sid"], dialed["sid"]]


async def test_find_call_with_nothing_there(twilio: TwilioProvider) -> None:
    with respx.mock() as router:
        router.get(CALLS).respond(200, json={"calls": [], "page": 0, "page_size": 50})
        assert await twilio.find_call(to=TO, from_=FROM, started_after=datetime.now(UTC)) == []


NUMBERS = f"{API}/2010-04-01/Accounts/{ACCOUNT}/IncomingPhoneNumbers.json"
CALLER_IDS = f"{API}/2010-04-01/Accounts/{ACCOUNT}/OutgoingCallerIds.json"


@pytest.mark.parametrize(
    ("incoming", "verified", "owned", "requests"),
    [
        ([{"phone_number": FROM, "sid": "PN" + "1" * 32}], [], True, 1),
        ([], [{"phone_number": FROM, "sid": "PN" + "2" * 32}], True, 2),
        ([], [], False, 2),
    ],
)
async def test_owns_number(
    twilio: TwilioProvider,
    incoming: list[dict[str, str]],
    verified: list[dict[str, str]],
    owned: bool,
    requests: int,
) -> None:
    with respx.mock(assert_all_called=False) as router:
        numbers = router.get(NUMBERS).respond(200, json={"incoming_phone_numbers": incoming})
        caller_ids = router.get(CALLER_IDS).respond(200, json={"outgoing_caller_ids": verified})
        assert await twilio.owns_number(FROM) is owned
    assert numbers.calls.last.request.url.params["PhoneNumber"] == FROM
    assert numbers.call_count + caller_ids.call_count == requests


def test_retry_after_as_seconds_or_a_date() -> None:
    now = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)
    assert retry_after_seconds("12", now=now) == 12.0
    assert retry_after_seconds("Sat, 21 Nov 2026 15:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Sat, 21 Nov 2026 14:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None, now=now) is None
