"""The simulated carrier: places calls in process and reports on them through our own routes.

It answers POST /Calls as Twilio would (the Call resource, or Twilio's error for a rejected
number), then POSTs each callback `simulator_model.simulate_call` scheduled, form-encoded and
signed with Twilio's algorithm under `settings.twilio_signing_token`, to the URLs the dialer
gave (built from `LEADWIRE_PUBLIC_URL`). So a local run exercises the same HTTP callbacks,
signature checks and state machine as a production run. Timing is compressed by
`LEADWIRE_SIMULATOR_TIME_SCALE`; the outcome mix is seeded per call
(`LEADWIRE_SIMULATOR_SEED` and our call id), and per-number overrides come from Redis
(`telephony.simulator.set_override`). It owns every valid number as a caller ID.

Calls are recorded in Redis, so any process can find, fetch or hang up a call another process
placed: hanging up sends the final callback at once (`completed` if answered, else `canceled`)
and the placing process's delivery stops before its next callback. A call whose placing
process died is reported by `fetch_call` as ended at its scheduled end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import httpx
import phonenumbers
from redis.asyncio import Redis

from leadwire.platform.errors import ExternalServiceError
from leadwire.telephony import simulator
from leadwire.telephony.call_status import CallStatus
from leadwire.telephony.providers.base import ProviderCall
from leadwire.telephony.providers.twilio import parse_call
from leadwire.telephony.signatures import SIGNATURE_HEADER, sign
from leadwire.telephony.simulator_model import (
    PRICE_PER_MINUTE,
    CallbackKind,
    ScheduledCallback,
    SimulatedCall,
    simulate_call,
)

log = logging.getLogger("leadwire.telephony.simulator")

# Twilio's webhook default: one retry after a connection failure (reference §6.5).
DELIVERY_RETRIES = 1
# Twilio's webhook defaults: 5 s to connect, 15 s in all (reference §6.5).
CALLBACK_TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _rfc2822(ms: int) -> str:
    return format_datetime(datetime.fromtimestamp(ms / 1000, UTC))


def _not_found() -> ExternalServiceError:
    return ExternalServiceError(
        "Twilio answered HTTP 404 with error 20404",
        provider="twilio",
        provider_code=20404,
        http_status=404,
    )


class SimulatedCarrier:
    """`TelephonyProvider` that simulates Twilio (see the module docstring)."""

    name = "simulated"

    def __init__(
        self,
        *,
        redis: Redis,
        http: httpx.AsyncClient | None,
        signing_token: str,
        account_sid: str,
        seed: str,
        time_scale: float,
    ) -> None:
        """`http`: the client its callbacks go through (tests route it into the app in
        process); None: its own aiohttp session, which costs the placing process a quarter of
        httpx's CPU per callback (six or so per call)."""
        self.redis = redis
        self.http = http
        self._session: aiohttp.ClientSession | None = None
        self.signing_token = signing_token
        self.account_sid = account_sid
        self.seed = seed
        self.time_scale = time_scale
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- TelephonyProvider ------------------------------------------------------------------

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
        # The carrier's clock for this call is read before anything else: it is what the
        # provider-side measurement of calls per second uses.
        created_ms = _now_ms()
        started = asyncio.get_running_loop().time()
        override = await simulator.get_override(self.redis, to)
        sim = simulate_call(
            seed=f"{self.seed}:{idempotency_ref}",
            account_sid=self.account_sid,
            to=to,
            from_=from_,
            started_at=datetime.fromtimestamp(created_ms / 1000, UTC),
            override=override.to_model() if override else None,
            time_compression=1.0 / self.time_scale,
            ring_timeout_s=timeout_s,
        )
        if sim.rejection is not None:
            code = int(sim.rejection.body["code"])
            raise ExternalServiceError(
                f"Twilio answered HTTP {sim.rejection.http_status} with error {code}",
                provider="twilio",
                provider_code=code,
                http_status=sim.rejection.http_status,
            )
        urls = {
            CallbackKind.STATUS.value: status_callback_url,
            CallbackKind.VOICE.value: voice_url,
            CallbackKind.AMD.value: amd_callback_url,
        }
        last_at = sim.callbacks[-1].at_s if sim.callbacks else 0.0
        record = {
            "sid": sim.call_sid,
            "to": to,
            "from": from_,
            "created_ms": created_ms,
            "natural_end_ms": created_ms + round(last_at * 1000),
            "urls": urls,
            "created": dict(sim.created),
            "final": dict(sim.final),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(simulator.CALL + sim.call_sid, json.dumps(record), ex=simulator.RECORD_TTL_S)
            pipe.zadd(simulator.TO_INDEX + to, {sim.call_sid: created_ms})
            pipe.expire(simulator.TO_INDEX + to, simulator.RECORD_TTL_S)
            pipe.zadd(simulator.CREATES, {sim.call_sid: created_ms})
            await pipe.execute()
        task = asyncio.create_task(self._deliver(sim, urls, started), name=f"sim:{sim.call_sid}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if override is not None and override.api_latency_s:
            await asyncio.sleep(override.api_latency_s)
        return parse_call(sim.created)

    async def hangup(self, sid: str) -> None:
        record = await self._record(sid)
        await self.redis.set(simulator.HANGUP + sid, "1", ex=simulator.RECORD_TTL_S)
        if await self.redis.exists(simulator.ENDED + sid):
            return
        answered_raw = await self.redis.get(simulator.ANSWERED + sid)
        now_ms = _now_ms()
        if answered_raw is not None:
            status = CallStatus.COMPLETED
            duration = math.ceil((now_ms - int(answered_raw)) / 1000 / self.time_scale)
        else:
            status, duration = CallStatus.CANCELED, 0
        ended = {"status": status.value, "duration": duration, "end_ms": now_ms}
        if not await self.redis.set(
            simulator.ENDED + sid, json.dumps(ended), nx=True, ex=simulator.RECORD_TTL_S
        ):
            return
        last = await self.redis.get(simulator.LAST_SEQUENCE + sid)
        sequence = int(last) + 1 if last is not None else 0
        params = {
            **self._request_params(record),
            "CallStatus": status.value,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(sequence),
            "Timestamp": _rfc2822(now_ms),
            "CallDuration": str(duration),
            "Duration": str(math.ceil(duration / 60)),
        }
        await self._post(record["urls"][CallbackKind.STATUS.value], params)

    async def update_twiml(self, sid: str, *, twiml: str) -> None:
        await self._record(sid)
        if await self.redis.exists(simulator.ENDED + sid):
            raise ExternalServiceError(
                "Twilio answered HTTP 400 with error 21220",
                provider="twilio",
                provider_code=21220,
                http_status=400,
            )
        await self.redis.set(simulator.TWIML + sid, twiml, ex=simulator.RECORD_TTL_S)

    async def fetch_call(self, sid: str) -> ProviderCall:
        record = await self._record(sid)
        return parse_call(await self._resource(record))

    async def find_call(
        self, *, to: str, from_: str, started_after: datetime
    ) -> list[ProviderCall]:
        since_ms = int(started_after.timestamp() * 1000)
        sids = await self.redis.zrangebyscore(simulator.TO_INDEX + to, since_ms, "+inf")
        found: list[ProviderCall] = []
        for raw in sids:
            sid = raw.decode() if isinstance(raw, bytes) else str(raw)
            record_raw = await self.redis.get(simulator.CALL + sid)
            if record_raw is None:
                continue
            record = json.loads(record_raw)
            if record["from"] == from_:
                found.append(parse_call(await self._resource(record)))
        found.sort(key=lambda call: call.date_created or started_after, reverse=True)
        return found

    async def owns_number(self, e164: str) -> bool:
        try:
            number = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:
            return False
        return bool(phonenumbers.is_valid_number(number))

    async def close(self) -> None:
        """Stop delivering callbacks (process shutdown)."""
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def idle(self) -> None:
        """Wait until every call placed by this process has delivered its callbacks."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- internals ---------------------------------------------------------------------------

    async def _record(self, sid: str) -> dict[str, Any]:
        raw = await self.redis.get(simulator.CALL + sid)
        if raw is None:
            raise _not_found()
        record: dict[str, Any] = json.loads(raw)
        return record

    def _request_params(self, record: Mapping[str, Any]) -> dict[str, str]:
        return {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "CallSid": record["sid"],
            "Called": record["to"],
            "Caller": record["from"],
            "Direction": "outbound-api",
            "From": record["from"],
            "To": record["to"],
        }

    async def _resource(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """The Call resource now: ended (hung up or finished), answered, or still queued."""
        sid = record["sid"]
        ended_raw = await self.redis.get(simulator.ENDED + sid)
        if ended_raw is not None:
            ended = json.loads(ended_raw)
            if ended.get("natural"):
                return dict(record["final"])
            duration = int(ended["duration"])
            resource = dict(record["final"])
            resource.update(
                status=ended["status"],
                end_time=_rfc2822(int(ended["end_ms"])),
                duration=str(duration) if ended["status"] == CallStatus.COMPLETED else None,
                price=(
                    f"-{PRICE_PER_MINUTE * math.ceil(duration / 60):.5f}"
                    if ended["status"] == CallStatus.COMPLETED
                    else None
                ),
            )
            return resource
        if _now_ms() >= int(record["natural_end_ms"]):
            return dict(record["final"])  # the placing process is gone; the call ended anyway
        resource = dict(record["created"])
        if await self.redis.exists(simulator.ANSWERED + sid):
            resource["status"] = CallStatus.IN_PROGRESS.value
        return resource

    async def _deliver(self, sim: SimulatedCall, urls: Mapping[str, str], started: float) -> None:
        loop = asyncio.get_running_loop()
        sid = sim.call_sid
        for callback in sim.callbacks:
            delay = started + callback.at_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if await self.redis.exists(simulator.HANGUP + sid):
                return  # whoever hung up sent the final callback
            if not await self._mark_progress(sid, callback):
                return
            await self._post(urls[callback.kind.value], callback.params)

    async def _mark_progress(self, sid: str, callback: ScheduledCallback) -> bool:
        """Record what the callback tells the carrier's own record; False: do not send it."""
        if callback.kind is not CallbackKind.STATUS:
            return True
        status = CallStatus(callback.params["CallStatus"])
        sequence = callback.params.get("SequenceNumber")
        if status.is_final:
            ended = {
                "status": status.value,
                "duration": int(callback.params.get("CallDuration") or 0),
                "end_ms": _now_ms(),
                "natural": True,
            }
            if not await self.redis.set(
                simulator.ENDED + sid, json.dumps(ended), nx=True, ex=simulator.RECORD_TTL_S
            ):
                return False  # hung up meanwhile: the final callback is already sent
        elif status is CallStatus.IN_PROGRESS:
            await self.redis.set(simulator.ANSWERED + sid, _now_ms(), ex=simulator.RECORD_TTL_S)
        if sequence is not None:
            await self.redis.set(simulator.LAST_SEQUENCE + sid, sequence, ex=simulator.RECORD_TTL_S)
        return True

    async def _post(self, url: str, params: Mapping[str, str]) -> None:
        headers = {
            SIGNATURE_HEADER: sign(auth_token=self.signing_token, url=url, params=params),
            "User-Agent": "TwilioProxy/1.1",
            "Content-Type": "application/x-www-form-urlencoded",
        }
        body = urlencode(params).encode()  # once, for every retry
        for attempt in range(DELIVERY_RETRIES + 1):
            try:
                status = await self._send(url, body, headers)
            except (httpx.HTTPError, aiohttp.ClientError, TimeoutError) as exc:
                if attempt < DELIVERY_RETRIES:
                    await asyncio.sleep(1.0)
                    continue
                log.warning("callback delivery failed", extra={"error": type(exc).__name__})
                return
            if status >= 500 and attempt < DELIVERY_RETRIES:
                await asyncio.sleep(1.0)
                continue
            if status >= 400:
                log.warning(
                    "callback answered with an error (Twilio warning 15003)",
                    extra={"status": status},
                )
            return

    async def _send(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST the encoded form; the answer's status (Twilio reads nothing else of a
        callback's)."""
        if self.http is not None:
            response = await self.http.post(url, content=body, headers=headers)
            return response.status_code
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=CALLBACK_TIMEOUT)
        async with self._session.post(url, data=body, headers=headers) as answer:
            await answer.read()
            return answer.status
