"""Leads posted the way an ad platform posts them: over HTTP, retried while the answer is 5xx.

`Provider` is the sending side of the chaos tests. Every lead carries an `external_id`, so a
redelivery of a lead that was committed but whose answer was lost is answered as a duplicate
instead of stored twice; every answer is kept, so a test can check what each one said.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.helpers import bearer
from tests.telephony.helpers import consent, phone


def lead_body(n: int, *, urgency: str = "emergency", run: str = "chaos") -> dict[str, Any]:
    """A direct-API lead that the gate lets through (consent, Atlanta number, daytime)."""
    return {
        "external_id": f"{run}-{n}",
        "name": "Sarah Johnson",
        "phone": phone(n),
        "email": f"sarah{n}@example.com",
        "service": "HVAC repair",
        "urgency": urgency,
        "postal_code": "30303",
        "state": "GA",
        "consent": consent(),
    }


@dataclass
class Answer:
    status: int
    body: dict[str, Any] | None
    retry_after: str | None


@dataclass
class Delivery:
    """One lead's deliveries: every answer, and the lead id the last 2xx named."""

    external_id: str
    answers: list[Answer] = field(default_factory=list)
    lead_id: str | None = None


class Provider:
    """Posts leads to `POST /v1/leads`; a 5xx or a dropped connection is retried, honouring
    `Retry-After` (capped by `max_retry_after_s`), until `give_up_s` has passed."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        key: str,
        *,
        max_retry_after_s: float = 5.0,
        give_up_s: float = 45.0,
    ) -> None:
        self.client = client
        self.key = key
        self.max_retry_after_s = max_retry_after_s
        self.give_up_s = give_up_s
        self.deliveries: dict[str, Delivery] = {}

    async def deliver(self, body: dict[str, Any]) -> Delivery:
        """One lead, retried until a 2xx or 4xx answers it (or `give_up_s` passes)."""
        [delivery] = await self.deliver_batch([body], single=True)
        return delivery

    async def deliver_batch(
        self, bodies: list[dict[str, Any]], *, single: bool = False
    ) -> list[Delivery]:
        """Leads in one request (the direct API takes an array of up to 100), retried as one."""
        deliveries = [
            self.deliveries.setdefault(b["external_id"], Delivery(b["external_id"])) for b in bodies
        ]
        payload: Any = bodies[0] if single else bodies
        started = time.monotonic()
        while True:
            answer = await self._post(payload)
            for delivery in deliveries:
                delivery.answers.append(answer)
            if 0 < answer.status < 500:
                if 200 <= answer.status < 300:
                    assert answer.body is not None
                    for delivery, result in zip(deliveries, answer.body["leads"], strict=True):
                        delivery.lead_id = result["lead_id"]
                return deliveries
            if time.monotonic() - started > self.give_up_s:
                return deliveries
            await asyncio.sleep(min(float(answer.retry_after or 1), self.max_retry_after_s))

    async def _post(self, payload: Any) -> Answer:
        """One try; a dropped connection is answer 0."""
        try:
            response = await self.client.post(
                "/v1/leads", json=payload, headers=bearer(self.key), timeout=15
            )
        except httpx.TransportError:
            return Answer(0, None, None)
        return Answer(response.status_code, _json(response), response.headers.get("retry-after"))

    async def deliver_all(
        self, bodies: list[dict[str, Any]], *, every_s: float = 0.0
    ) -> list[Delivery]:
        """Deliver each lead in its own task, `every_s` apart; wait for every one to end."""
        tasks = []
        for body in bodies:
            tasks.append(asyncio.create_task(self.deliver(body)))
            if every_s:
                await asyncio.sleep(every_s)
        return list(await asyncio.gather(*tasks))

    def acknowledged(self) -> dict[str, str]:
        """external_id -> lead_id for every lead a 2xx acknowledged."""
        return {d.external_id: d.lead_id for d in self.deliveries.values() if d.lead_id}

    def answers(self) -> list[Answer]:
        return [a for d in self.deliveries.values() for a in d.answers]


def _json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
