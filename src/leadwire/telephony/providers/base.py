"""The `TelephonyProvider` protocol every carrier adapter implements.

Adapters translate their client's failures into `ExternalServiceError` (with `provider`,
`provider_code`, `http_status`, `retry_after_s`), which `platform.classify` turns into a
policy; no HTTP-client exception crosses this boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.state_machine import CallbackEvent


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """A call as the provider reports it (Twilio's Call resource, the fields worth keeping)."""

    sid: str
    status: CallStatus
    to: str | None = None
    from_: str | None = None
    date_created: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    duration_s: int | None = None
    price: Decimal | None = None
    price_unit: str | None = None
    answered_by: AnsweredBy | None = None
    queue_time_ms: int | None = None

    def to_event(self) -> CallbackEvent:
        """The same facts as a state-machine event (reconciliation; no SequenceNumber)."""
        return CallbackEvent(
            status=self.status,
            timestamp=self.end_time if self.status.is_final else None,
            duration_s=self.duration_s,
            price=self.price,
            price_unit=self.price_unit,
            answered_by=self.answered_by,
        )


class TelephonyProvider(Protocol):
    """A carrier that places outbound calls and reports on them."""

    name: str

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
        """Place a call. `idempotency_ref` is our attempt's id: Twilio has no idempotency key
        on POST /Calls, so after a timeout or a crash mid-dial the caller must ask `find_call`
        whether the call exists before dialing again; carriers that can dedupe on it do."""
        ...

    async def hangup(self, sid: str) -> None:
        """End the call whatever its state; a call that already ended is not an error."""
        ...

    async def update_twiml(self, sid: str, *, twiml: str) -> None:
        """Replace what a live call is doing (drop a voicemail after the AMD result)."""
        ...

    async def fetch_call(self, sid: str) -> ProviderCall: ...

    async def find_call(
        self, *, to: str, from_: str, started_after: datetime
    ) -> list[ProviderCall]:
        """Calls from `from_` to `to` created at or after `started_after`, newest first."""
        ...

    async def owns_number(self, e164: str) -> bool:
        """Whether we may present `e164` as caller ID (an account number or a verified one)."""
        ...
