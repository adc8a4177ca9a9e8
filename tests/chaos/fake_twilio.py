"""A fake of Twilio's Programmable Voice REST API for respx, with calls that happen.

It answers what `TwilioProvider` asks (reference/integrations.md 6.1-6.3): POST /Calls.json
creates a call (201 with the Call resource), GET /Calls.json lists them with Twilio's filters
(`To`, `From`, `StartTime>`, `Status`), GET /Calls/{sid}.json fetches one, POST
/Calls/{sid}.json updates one. A created call then lives: queued, ringing, answered, completed,
with the status callbacks, the voice webhook and the asynchronous AMD result POSTed to the URLs
the call was created with, form-encoded and signed with `X-Twilio-Signature`.

Per number, a `Plan` says how long the phone rings and whether the first POST /Calls times
out (httpx.ReadTimeout) before the call exists or after it was created: the two ways a request
that creates something can fail without an answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import parse_qs

import httpx
import respx

from leadwire.telephony.signatures import sign

ACCOUNT = "AC" + "c" * 32
TOKEN = "t" * 32
API = "https://api.twilio.com"
BASE = f"{API}/2010-04-01/Accounts/{ACCOUNT}"
SID = r"CA[0-9a-f]{32}"

Deliver = Callable[[str, dict[str, str], str], Awaitable[int]]


@dataclass(frozen=True)
class Plan:
    ring_s: float = 0.5
    talk_s: int = 20
    first_post: Literal["ok", "timeout_before_create", "timeout_after_create"] = "ok"


@dataclass
class FakeCall:
    resource: dict[str, Any]
    urls: dict[str, str]
    sequence: int = 0


def _rfc2822(moment: dt.datetime) -> str:
    return format_datetime(moment.astimezone(dt.UTC))


def _form(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.content.decode(), keep_blank_values=True)


@dataclass
class FakeTwilio:
    """`deliver(url, params, signature)` POSTs a webhook to our API; returns its status."""

    deliver: Deliver
    plans: dict[str, Plan] = field(default_factory=dict)
    calls: dict[str, FakeCall] = field(default_factory=dict)
    # Every request as (method, what, To): what is "create", "list", "fetch" or "update".
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)
    webhook_statuses: list[int] = field(default_factory=list)
    _posts: dict[str, int] = field(default_factory=dict)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def mount(self, router: respx.MockRouter) -> None:
        router.post(f"{BASE}/Calls.json").mock(side_effect=self._create)
        router.get(f"{BASE}/Calls.json").mock(side_effect=self._list)
        router.get(url__regex=rf"^{BASE}/Calls/{SID}\.json$").mock(side_effect=self._fetch)
        router.post(url__regex=rf"^{BASE}/Calls/{SID}\.json$").mock(side_effect=self._update)

    def created_for(self, to: str) -> list[str]:
        """The SIDs of the calls placed to `to` (a person is called once per SID)."""
        return [sid for sid, call in self.calls.items() if call.resource["to"] == to]

    async def idle(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # ---- the REST API -----------------------------------------------------------------------

    async def _create(self, request: httpx.Request) -> httpx.Response:
        form = _form(request)
        to, from_ = form["To"][0], form["From"][0]
        self.requests.append(("POST", "create", to))
        plan = self.plans.get(to, Plan())
        first = self._posts.get(to, 0) == 0
        self._posts[to] = self._posts.get(to, 0) + 1
        if first and plan.first_post == "timeout_before_create":
            raise httpx.ReadTimeout("timed out before Twilio had the request", request=request)
        sid = f"CA{uuid.uuid4().hex}"
        now = dt.datetime.now(dt.UTC)
        call = FakeCall(
            resource=_call_resource(sid=sid, to=to, from_=from_, created=now),
            urls={
                "status": form["StatusCallback"][0],
                "voice": form["Url"][0],
                "amd": form["AsyncAmdStatusCallback"][0],
            },
        )
        self.calls[sid] = call
        task = asyncio.create_task(self._live(call, plan))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if first and plan.first_post == "timeout_after_create":
            raise httpx.ReadTimeout("timed out after Twilio created the call", request=request)
        return httpx.Response(201, json=call.resource)

    async def _list(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params
        self.requests.append(("GET", "list", query.get("To")))
        since = query.get("StartTime>")
        found = []
        for call in self.calls.values():
            r = call.resource
            if query.get("To") not in (None, r["to"]) or query.get("From") not in (None, r["from"]):
                continue
            if query.get("Status") not in (None, r["status"]):
                continue
            if since is not None:
                started = r["start_time"]
                if started is None or _day(started) < since:
                    continue
            found.append(r)
        page = {
            "calls": found,
            "end": max(0, len(found) - 1),
            "first_page_uri": f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json?PageSize=50&Page=0",
            "next_page_uri": None,
            "page": 0,
            "page_size": 50,
            "previous_page_uri": None,
            "start": 0,
            "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Calls.json?PageSize=50&Page=0",
        }
        return httpx.Response(200, json=page)

    async def _fetch(self, request: httpx.Request) -> httpx.Response:
        sid = request.url.path.rsplit("/", 1)[1].removesuffix(".json")
        self.requests.append(("GET", "fetch", None))
        call = self.calls.get(sid)
        if call is None:
            return _not_found()
        return httpx.Response(200, json=call.resource)

    async def _update(self, request: httpx.Request) -> httpx.Response:
        sid = request.url.path.rsplit("/", 1)[1].removesuffix(".json")
        self.requests.append(("POST", "update", None))
        call = self.calls.get(sid)
        if call is None:
            return _not_found()
        return httpx.Response(200, json=call.resource)

    # ---- the call itself --------------------------------------------------------------------

    async def _live(self, call: FakeCall, plan: Plan) -> None:
        r = call.resource
        await asyncio.sleep(0.05)
        self._set(r, status="ringing", start_time=_rfc2822(dt.datetime.now(dt.UTC)))
        await self._status(call, "initiated")
        await self._status(call, "ringing")
        await asyncio.sleep(plan.ring_s)
        self._set(r, status="in-progress")
        await self._webhook(call, "voice", {**self._params(call), "CallStatus": "in-progress"})
        await self._status(call, "in-progress")
        await asyncio.sleep(0.2)
        await self._webhook(
            call,
            "amd",
            {
                "AccountSid": ACCOUNT,
                "CallSid": r["sid"],
                "AnsweredBy": "human",
                "MachineDetectionDuration": "1800",
            },
        )
        await asyncio.sleep(0.3)
        ended = dt.datetime.now(dt.UTC)
        self._set(
            r,
            status="completed",
            end_time=_rfc2822(ended),
            duration=str(plan.talk_s),
            price="-0.01400",
            answered_by="human",
        )
        await self._status(
            call,
            "completed",
            CallDuration=str(plan.talk_s),
            Duration=str(-(-plan.talk_s // 60)),
        )

    def _set(self, resource: dict[str, Any], **changes: Any) -> None:
        resource.update(changes, date_updated=_rfc2822(dt.datetime.now(dt.UTC)))

    def _params(self, call: FakeCall) -> dict[str, str]:
        r = call.resource
        return {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": r["sid"],
            "Called": r["to"],
            "Caller": r["from"],
            "Direction": "outbound-api",
            "From": r["from"],
            "To": r["to"],
        }

    async def _status(self, call: FakeCall, status: str, **extra: str) -> None:
        params = {
            **self._params(call),
            "CallStatus": status,
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(call.sequence),
            "Timestamp": _rfc2822(dt.datetime.now(dt.UTC)),
            **extra,
        }
        call.sequence += 1
        await self._webhook(call, "status", params)

    async def _webhook(self, call: FakeCall, kind: str, params: dict[str, str]) -> None:
        url = call.urls[kind]
        signature = sign(auth_token=TOKEN, url=url, params=params)
        self.webhook_statuses.append(await self.deliver(url, params, signature))


def _day(rfc2822: str) -> str:
    return parsedate_to_datetime(rfc2822).astimezone(dt.UTC).date().isoformat()


def _not_found() -> httpx.Response:
    return httpx.Response(
        404,
        json={
            "code": 20404,
            "message": "The requested resource was not found",
            "more_info": "https://www.twilio.com/docs/errors/20404",
            "status": 404,
        },
    )


def _call_resource(*, sid: str, to: str, from_: str, created: dt.datetime) -> dict[str, Any]:
    """The Call resource as POST /Calls.json answers it (reference/integrations.md 6.1)."""
    stamp = _rfc2822(created)
    return {
        "account_sid": ACCOUNT,
        "annotation": None,
        "answered_by": None,
        "api_version": "2010-04-01",
        "caller_name": None,
        "date_created": stamp,
        "date_updated": stamp,
        "direction": "outbound-api",
        "duration": None,
        "end_time": None,
        "forwarded_from": None,
        "from": from_,
        "from_formatted": from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": "PN" + "e" * 32,
        "price": None,
        "price_unit": "USD",
        "queue_time": "0",
        "sid": sid,
        "start_time": None,
        "status": "queued",
        "subresource_uris": {
            "notifications": f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}/Notifications.json",
            "recordings": f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}/Recordings.json",
        },
        "to": to,
        "to_formatted": to,
        "trunk_sid": None,
        "uri": f"/2010-04-01/Accounts/{ACCOUNT}/Calls/{sid}.json",
    }
