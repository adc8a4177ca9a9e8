"""Drive a `RelaySession` over any message transport (the WebSocket route passes its socket's
receive and send).

Why this exists: a reply streams for a while, and the caller may interrupt it or press 9 in
the meantime, so frames must keep being read while a reply is being sent. Frames that produce
speech (setup, prompt, dtmf) are handled in their own task; interrupt, error and info are
applied at once in arrival order. Sends are serialized. The loop ends after the ``end`` frame
is sent, or when the transport closes (then the session is closed with ``HANGUP`` so `Ended`
is still reported). Handler tasks still running at that point are left to finish (they stop at
their next step once the session is over) rather than cancelled, so an event hook that is
persisting an opt-out is never cut off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from leadwire.telephony.agent.events import EndReason
from leadwire.telephony.agent.session import RelaySession

Receive = Callable[[], Awaitable[Mapping[str, Any] | str | bytes | None]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_IMMEDIATE = frozenset({"interrupt", "error", "info"})


def _decoded(message: Mapping[str, Any] | str | bytes) -> Mapping[str, Any] | str | bytes:
    """A text frame as its JSON object (left as it is if it is not one: the session records it)."""
    if isinstance(message, str | bytes):
        try:
            data = json.loads(message)
        except ValueError:
            return message
        return data if isinstance(data, Mapping) else message
    return message


async def run_relay(session: RelaySession, *, receive: Receive, send: Send) -> None:
    """Feed `receive()` frames to `session` until it ends; `receive` returns None on close.

    Exceptions from the session (its event hook) propagate, wrapped in an ExceptionGroup.
    """
    send_lock = asyncio.Lock()
    finished = asyncio.Event()

    async def deliver(frame: dict[str, Any]) -> None:
        async with send_lock:
            await send(frame)
        if frame.get("type") == "end":
            finished.set()

    async def pump(message: Mapping[str, Any] | str | bytes) -> None:
        async for frame in session.handle(message):
            await deliver(frame)

    async def read(group: asyncio.TaskGroup) -> None:
        while True:
            message = await receive()
            if message is None:
                async for _ in session.close(reason=EndReason.HANGUP):
                    pass  # nothing can be sent on a closed transport
                finished.set()
                return
            message = _decoded(message)
            if isinstance(message, Mapping) and message.get("type") in _IMMEDIATE:
                await pump(message)
            else:
                group.create_task(pump(message))

    async with asyncio.TaskGroup() as group:
        reader = group.create_task(read(group))
        await finished.wait()
        reader.cancel()
