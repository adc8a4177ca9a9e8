from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from google import genai

from leadwire.leads.enrichment import LeadFacts, make_gemini_client
from leadwire.telephony.agent import CallContext, SessionEvent

CALLEE = "+15551234567"
TRANSFER = "+15125550101"
CALLBACK = "+15125550100"

# The first frame Twilio sends, shaped as in reference/integrations.md section 7.2.
SETUP: dict[str, Any] = {
    "type": "setup",
    "sessionId": "VX00000000000000000000000000000000",
    "accountSid": "AC00000000000000000000000000000000",
    "parentCallSid": "",
    "callSid": "CA00000000000000000000000000000000",
    "from": CALLBACK,
    "to": CALLEE,
    "forwardedFrom": "",
    "callType": "PSTN",
    "callerName": "",
    "direction": "outbound-api",
    "callStatus": "IN-PROGRESS",
    "customParameters": {"call_id": "42", "tenant_id": "7"},
}


def prompt(text: str, *, last: bool = True) -> dict[str, Any]:
    return {"type": "prompt", "voicePrompt": text, "lang": "en-US", "last": last}


def interrupt(heard: str, ms: int | str = 1200) -> dict[str, Any]:
    return {"type": "interrupt", "utteranceUntilInterrupt": heard, "durationUntilInterruptMs": ms}


def dtmf(digit: str) -> dict[str, Any]:
    return {"type": "dtmf", "digit": digit}


async def collect(frames: AsyncIterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [frame async for frame in frames]


def spoken(frames: Iterable[dict[str, Any]]) -> str:
    """The text the frames would make Twilio say."""
    return "".join(f["token"] for f in frames if f["type"] == "text")


def assert_one_reply(frames: list[dict[str, Any]]) -> None:
    """Text frames of exactly one reply: several tokens, only the final one has last=true."""
    texts = [f for f in frames if f["type"] == "text"]
    assert texts, frames
    assert [f["last"] for f in texts] == [False] * (len(texts) - 1) + [True]
    assert texts[-1]["token"].strip()


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 21, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class EventLog:
    """An `on_event` hook that also notes what had been sent when each event arrived."""

    def __init__(self, sent: list[dict[str, Any]] | None = None) -> None:
        self.events: list[SessionEvent] = []
        self.sent = sent if sent is not None else []
        self.end_sent_before: list[bool] = []

    async def __call__(self, event: SessionEvent) -> None:
        self.end_sent_before.append(any(f["type"] == "end" for f in self.sent))
        self.events.append(event)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lead() -> LeadFacts:
    return LeadFacts(
        name="Sarah Johnson",
        service="HVAC Emergency",
        message="AC not cooling at all",
        postal_code="78701",
        state="TX",
    )


@pytest.fixture
def context(lead: LeadFacts) -> CallContext:
    return CallContext(
        business_name="Acme HVAC",
        phone=CALLEE,
        lead=lead,
        script="Be friendly. Ask: Is the unit older than ten years?",
        transfer_number=TRANSFER,
        callback_number=CALLBACK,
        voicemail="Call us back at 800-555-0199 to schedule, or to opt out of calls.",
    )


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def gemini_client(http_client: httpx.AsyncClient) -> genai.Client:
    client = make_gemini_client(api_key="test-key", http_client=http_client)
    assert client is not None
    return client


@pytest.fixture
def gemini_api() -> Iterable[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as router:
        yield router
