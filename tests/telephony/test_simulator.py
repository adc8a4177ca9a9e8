"""The simulated carrier's I/O: signed Twilio-shaped callbacks, overrides, hang-ups, lookups."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from leadwire.platform.errors import ExternalServiceError, InvalidPayload
from leadwire.platform.state import AppState
from leadwire.telephony import simulator
from leadwire.telephony.call_status import CallStatus
from leadwire.telephony.providers.simulated import SimulatedCarrier
from leadwire.telephony.signatures import SIGNATURE_HEADER, is_valid

TOKEN = "simulated-token-for-tests"
BASE = "https://leadwire.test"
TO, FROM = "+14045550123", "+14045550100"


class Recorder:
    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bool]] = []

    async def endpoint(self, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        url = str(request.url)
        valid = is_valid(
            auth_tokens=[TOKEN],
            url=url,
            params=form,
            signature=request.headers.get(SIGNATURE_HEADER),
        )
        self.requests.append((request.url.path, form, valid))
        return Response(status_code=204)

    def statuses(self) -> list[str]:
        return [form["CallStatus"] for path, form, _ in self.requests if path == "/status"]


@pytest.fixture
async def recorder(clean: AppState) -> AsyncIterator[tuple[Recorder, SimulatedCarrier]]:
    recorder = Recorder()
    app = Starlette(
        routes=[
            Route(p, recorder.endpoint, methods=["POST"]) for p in ("/status", "/voice", "/amd")
        ]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as http:
        carrier = SimulatedCarrier(
            redis=clean.redis,
            http=http,
            signing_token=TOKEN,
            account_sid="AC" + "0" * 32,
            seed="sim-tests",
            time_scale=0.005,
        )
        yield recorder, carrier
        await carrier.close()


async def place(carrier: SimulatedCarrier, ref: str = "call-1", to: str = TO) -> str:
    call = await carrier.create_call(
        to=to,
        from_=FROM,
        voice_url=f"{BASE}/voice",
        status_callback_url=f"{BASE}/status",
        amd_callback_url=f"{BASE}/amd",
        timeout_s=30,
        idempotency_ref=ref,
    )
    assert call.status is CallStatus.QUEUED
    return call.sid


@pytest.mark.parametrize(
    ("outcome", "statuses"),
    [
        ("answered", ["initiated", "ringing", "in-progress", "completed"]),
        ("busy", ["initiated", "ringing", "busy"]),
        ("no-answer", ["initiated", "ringing", "no-answer"]),
        ("failed", ["initiated", "failed"]),
        ("machine", ["initiated", "ringing", "in-progress", "completed"]),
    ],
)
async def test_each_outcome_sends_twilio_shaped_signed_callbacks_in_order(
    clean: AppState,
    recorder: tuple[Recorder, SimulatedCarrier],
    outcome: str,
    statuses: list[str],
) -> None:
    seen, carrier = recorder
    await simulator.set_override(clean, e164=TO, outcome=outcome, duration_s=20)
    sid = await place(carrier)
    await carrier.idle()
    assert seen.statuses() == statuses
    assert all(valid for _, _, valid in seen.requests)
    status_forms = [form for path, form, _ in seen.requests if path == "/status"]
    assert [int(f["SequenceNumber"]) for f in status_forms] == list(range(len(statuses)))
    for form in status_forms:
        assert form["CallSid"] == sid and form["To"] == TO and form["From"] == FROM
        assert form["Direction"] == "outbound-api"
    if outcome in ("answered", "machine"):
        paths = [path for path, _, _ in seen.requests]
        assert "/voice" in paths and "/amd" in paths
        amd = next(form for path, form, _ in seen.requests if path == "/amd")
        assert (amd["AnsweredBy"] == "human") is (outcome == "answered")
        assert status_forms[-1]["CallDuration"] == "20"
    if outcome == "failed":
        assert status_forms[-1]["ErrorCode"] == "13224"
    # The carrier's own record agrees.
    fetched = await carrier.fetch_call(sid)
    assert fetched.status.value == statuses[-1]


async def test_a_rejected_number_fails_at_create_like_twilio(
    clean: AppState, recorder: tuple[Recorder, SimulatedCarrier]
) -> None:
    seen, carrier = recorder
    await simulator.set_override(clean, e164=TO, outcome="failed", error_code=21211)
    with pytest.raises(ExternalServiceError) as raised:
        await place(carrier)
    assert (raised.value.provider, raised.value.provider_code, raised.value.http_status) == (
        "twilio",
        21211,
        400,
    )
    assert seen.requests == []
    assert await simulator.carrier_calls(clean.redis) == []


async def test_hanging_up_ends_the_call_and_stops_the_sequence(
    clean: AppState, recorder: tuple[Recorder, SimulatedCarrier]
) -> None:
    seen, carrier = recorder
    await simulator.set_override(clean, e164=TO, outcome="answered", duration_s=3600)
    sid = await place(carrier)
    for _ in range(200):
        if "in-progress" in seen.statuses():
            break
        await asyncio.sleep(0.01)
    await carrier.hangup(sid)
    await carrier.hangup(sid)  # twice is harmless
    await asyncio.sleep(0.1)
    assert seen.statuses() == ["initiated", "ringing", "in-progress", "completed"]
    final = [f for p, f, _ in seen.requests if p == "/status"][-1]
    assert int(final["SequenceNumber"]) == 3
    await carrier.close()
    assert (await carrier.fetch_call(sid)).status is CallStatus.COMPLETED


async def test_hanging_up_before_an_answer_cancels(
    clean: AppState, recorder: tuple[Recorder, SimulatedCarrier]
) -> None:
    seen, carrier = recorder
    await simulator.set_override(clean, e164=TO, outcome="no-answer")
    sid = await place(carrier)
    await carrier.hangup(sid)
    await carrier.idle()
    assert seen.statuses()[-1] == "canceled"
    assert "no-answer" not in seen.statuses()


async def test_find_call_sees_calls_from_any_process(
    clean: AppState, recorder: tuple[Recorder, SimulatedCarrier]
) -> None:
    _, carrier = recorder
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    sid = await place(carrier, "one")
    other = await place(carrier, "two", to="+14045550999")
    found = await carrier.find_call(to=TO, from_=FROM, started_after=before)
    assert [c.sid for c in found] == [sid]
    assert await carrier.find_call(to=TO, from_="+14045550101", started_after=before) == []
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5)
    assert await carrier.find_call(to=TO, from_=FROM, started_after=later) == []
    logged = {c.sid for c in await simulator.carrier_calls(clean.redis)}
    assert logged == {sid, other}


async def test_unknown_calls_are_twilio_404s_and_every_valid_number_is_owned(
    recorder: tuple[Recorder, SimulatedCarrier],
) -> None:
    _, carrier = recorder
    with pytest.raises(ExternalServiceError) as raised:
        await carrier.fetch_call("CA" + "f" * 32)
    assert raised.value.provider_code == 20404
    assert await carrier.owns_number("+14045550100")
    assert not await carrier.owns_number("+1555")


async def test_update_twiml_on_an_ended_call_is_refused(
    clean: AppState, recorder: tuple[Recorder, SimulatedCarrier]
) -> None:
    _, carrier = recorder
    await simulator.set_override(clean, e164=TO, outcome="busy")
    sid = await place(carrier)
    await carrier.idle()
    with pytest.raises(ExternalServiceError) as raised:
        await carrier.update_twiml(sid, twiml="<Response/>")
    assert raised.value.provider_code == 21220


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"e164": "not a number", "outcome": "busy"}, "e164"),
        ({"e164": TO, "outcome": "voicemail"}, "outcome"),
        ({"e164": TO, "outcome": "busy", "error_code": 21211}, "error_code"),
        ({"e164": TO, "outcome": "answered", "duration_s": 0}, "duration_s"),
    ],
)
async def test_overrides_are_validated(
    clean: AppState, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidPayload) as raised:
        await simulator.set_override(clean, **kwargs)  # type: ignore[arg-type]
    assert raised.value.field == field


async def test_overrides_are_kept_per_number_until_cleared(clean: AppState) -> None:
    override = await simulator.set_override(clean, e164="+1 404 555 0123", outcome="busy")
    assert await simulator.get_override(clean.redis, TO) == override
    assert await simulator.clear_override(clean, e164=TO)
    assert await simulator.get_override(clean.redis, TO) is None
