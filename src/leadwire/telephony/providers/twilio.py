"""Twilio Programmable Voice over its REST API, with httpx.

Requests go straight to ``{api_base}/2010-04-01/Accounts/{AccountSid}/...`` with HTTP Basic
auth and form-encoded bodies exactly as Twilio documents them (reference/integrations.md §6.1),
so respx sees every request and `LEADWIRE_TWILIO_API_BASE` can point at a fake Twilio. The
twilio package is used for signatures and TwiML only: its clients ride on requests/aiohttp,
which respx cannot intercept.

Answering-machine detection is `DetectMessageEnd` with `AsyncAmd=true`: the call is connected
to the AI agent at once (no silence while AMD listens, reference/compliance.md §1.8), and for a
machine the result arrives after the greeting and beep, which is the moment to drop a
voicemail (`update_twiml`). `Enable` would report `machine_start` during the greeting, and a
message played then is cut off by the beep.

Every failure leaves as `ExternalServiceError(provider="twilio", ...)`: Twilio's JSON error
body gives `provider_code` and `http_status`, `Retry-After` gives `retry_after_s`; timeouts and
connection failures carry `TransportCode` values. Twilio's error *messages* are not copied into
ours because they may quote the phone number.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from leadwire.platform.classify import TransportCode
from leadwire.platform.errors import ExternalServiceError
from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.providers.base import ProviderCall

DEFAULT_API_BASE = "https://api.twilio.com"
API_VERSION = "2010-04-01"
STATUS_CALLBACK_EVENTS = ("initiated", "ringing", "answered", "completed")
# Compliance §1.8: let an unanswered call ring at least 15 s; Twilio's maximum is 600 s.
MIN_RING_TIMEOUT_S = 15
MAX_RING_TIMEOUT_S = 600
# Twilio's limit on inline TwiML.
MAX_TWIML_CHARS = 4000

# Errors that mean "this call is already over" when hanging up.
_CALL_ALREADY_ENDED = frozenset({20404, 21220})

FormData = Mapping[str, str | list[str]]


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def _parse_int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdecimal():
        return int(value)
    return None


def _parse_price(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def parse_call(payload: Mapping[str, Any]) -> ProviderCall:
    """Twilio's Call resource JSON -> `ProviderCall`."""
    answered_by = payload.get("answered_by")
    try:
        parsed_answered_by = AnsweredBy(answered_by) if answered_by else None
    except ValueError:
        parsed_answered_by = AnsweredBy.UNKNOWN
    return ProviderCall(
        sid=str(payload["sid"]),
        status=CallStatus(payload["status"]),
        to=payload.get("to"),
        from_=payload.get("from"),
        date_created=_parse_time(payload.get("date_created")),
        start_time=_parse_time(payload.get("start_time")),
        end_time=_parse_time(payload.get("end_time")),
        duration_s=_parse_int(payload.get("duration")),
        price=_parse_price(payload.get("price")),
        price_unit=payload.get("price_unit"),
        answered_by=parsed_answered_by,
        queue_time_ms=_parse_int(payload.get("queue_time")),
    )


def retry_after_seconds(value: str | None, *, now: datetime) -> float | None:
    """`Retry-After` as seconds: delta-seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    when = _parse_time(value)
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def error_from_response(response: httpx.Response) -> ExternalServiceError:
    """Twilio's `{"code", "message", "more_info", "status"}` error body -> our error."""
    code: int | None = None
    more_info = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        code = _parse_int(body.get("code"))
        more_info = str(body.get("more_info") or "")
    described = f"Twilio answered HTTP {response.status_code}"
    if code is not None:
        described += f" with error {code}"
    if more_info:
        described += f" ({more_info})"
    return ExternalServiceError(
        described,
        provider="twilio",
        provider_code=code,
        http_status=response.status_code,
        retry_after_s=retry_after_seconds(
            response.headers.get("Retry-After"), now=datetime.now(UTC)
        ),
    )


class TwilioProvider:
    """`TelephonyProvider` for Twilio; the `httpx.AsyncClient` is owned by the caller."""

    name = "twilio"

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        http: httpx.AsyncClient,
        api_base: str = DEFAULT_API_BASE,
        request_timeout_s: float = 10.0,
    ) -> None:
        self._auth = (account_sid, auth_token)
        self._http = http
        self._account_url = f"{api_base.rstrip('/')}/{API_VERSION}/Accounts/{account_sid}"
        self._timeout = request_timeout_s

    async def _request(
        self,
        method: str,
        path: str,
        *,
        data: FormData | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method,
                f"{self._account_url}/{path}",
                data=data,
                params=params,
                auth=self._auth,
                headers={"Accept": "application/json"},
                timeout=self._timeout,
            )
        except httpx.TimeoutException as exc:
            raise ExternalServiceError(
                "Twilio did not answer in time",
                provider="twilio",
                provider_code=TransportCode.TIMEOUT,
            ) from exc
        except httpx.HTTPError as exc:
            raise ExternalServiceError(
                "Could not reach Twilio", provider="twilio", provider_code=TransportCode.NETWORK
            ) from exc
        if not response.is_success:
            raise error_from_response(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ExternalServiceError(
                "Twilio answered a body that is not a JSON object",
                provider="twilio",
                provider_code=TransportCode.BAD_RESPONSE,
                http_status=response.status_code,
            )
        return body

    async def create_call(
        self,
        *,
        to: str,
        from_: str,
        voice_url: str,
        status_callback_url: str,
        amd_callback_url: str,
        timeout_s: int,
        idempotency_ref: str,
    ) -> ProviderCall:
        """POST /Calls.json. Twilio takes no idempotency key: `idempotency_ref` is not sent;
        after a timeout the caller reconciles with `find_call` before dialing again."""
        if not MIN_RING_TIMEOUT_S <= timeout_s <= MAX_RING_TIMEOUT_S:
            raise ValueError(f"timeout_s must be {MIN_RING_TIMEOUT_S}..{MAX_RING_TIMEOUT_S}")
        data: dict[str, str | list[str]] = {
            "To": to,
            "From": from_,
            "Url": voice_url,
            "Method": "POST",
            "StatusCallback": status_callback_url,
            "StatusCallbackEvent": list(STATUS_CALLBACK_EVENTS),
            "StatusCallbackMethod": "POST",
            "MachineDetection": "DetectMessageEnd",
            "AsyncAmd": "true",
            "AsyncAmdStatusCallback": amd_callback_url,
            "AsyncAmdStatusCallbackMethod": "POST",
            "Timeout": str(timeout_s),
        }
        return parse_call(await self._request("POST", "Calls.json", data=data))

    async def hangup(self, sid: str) -> None:
        """`Status=completed` ends a call in progress; a call still queued or ringing may
        refuse it (21220) and is ended with `Status=canceled` instead."""
        for status in ("completed", "canceled"):
            try:
                await self._request("POST", f"Calls/{sid}.json", data={"Status": status})
            except ExternalServiceError as exc:
                if exc.provider_code == 21220 and status == "completed":
                    continue
                if exc.provider_code in _CALL_ALREADY_ENDED:
                    return
                raise
            return

    async def update_twiml(self, sid: str, *, twiml: str) -> None:
        if len(twiml) > MAX_TWIML_CHARS:
            raise ValueError(f"inline TwiML is limited to {MAX_TWIML_CHARS} characters")
        await self._request("POST", f"Calls/{sid}.json", data={"Twiml": twiml})

    async def fetch_call(self, sid: str) -> ProviderCall:
        return parse_call(await self._request("GET", f"Calls/{sid}.json"))

    async def find_call(
        self, *, to: str, from_: str, started_after: datetime
    ) -> list[ProviderCall]:
        """GET Calls.json?To=&From=&StartTime>=, plus the still-queued calls.

        A call waiting in Twilio's CPS queue has no start time yet, so the `StartTime>=`
        filter alone would miss it. Twilio filters by day; the exact instant is filtered
        here on `date_created`.
        """
        day = started_after.astimezone(UTC).date().isoformat()
        queries = (
            {"To": to, "From": from_, "StartTime>": day, "PageSize": "50"},
            {"To": to, "From": from_, "Status": CallStatus.QUEUED.value, "PageSize": "50"},
        )
        found: dict[str, ProviderCall] = {}
        for params in queries:
            body = await self._request("GET", "Calls.json", params=params)
            for payload in body.get("calls") or []:
                call = parse_call(payload)
                created = call.date_created or call.start_time
                if created is not None and created >= started_after:
                    found[call.sid] = call
        return sorted(
            found.values(),
            key=lambda call: call.date_created or call.start_time or started_after,
            reverse=True,
        )

    async def owns_number(self, e164: str) -> bool:
        """A number of the account (IncomingPhoneNumbers) or a verified OutgoingCallerId."""
        for path, key in (
            ("IncomingPhoneNumbers.json", "incoming_phone_numbers"),
            ("OutgoingCallerIds.json", "outgoing_caller_ids"),
        ):
            body = await self._request("GET", path, params={"PhoneNumber": e164})
            if body.get(key):
                return True
        return False
