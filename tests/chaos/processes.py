"""Waiting on the cluster's processes without blocking the test's event loop."""

from __future__ import annotations

import asyncio
import time

from leadwire.platform.state import AppState
from tests.e2e.cluster import Cluster


async def serving(state: AppState, queue: str) -> int:
    """How many SAQ workers have registered on `queue` within their info TTL (SAQ writes a
    worker's info as soon as it starts, then every 10 s; a killed one lingers for 11 s)."""
    info = await state.queues[queue].info()
    return len(info["workers"])


async def wait_for_workers(
    state: AppState, nodes: Cluster, *, queue: str, count: int, timeout_s: float = 30
) -> None:
    deadline = time.monotonic() + timeout_s
    while await serving(state, queue) < count:
        if time.monotonic() > deadline:
            names = [n for n in nodes.processes if n != "api"]
            raise AssertionError(
                f"{count} workers not serving {queue} after {timeout_s:.0f} s:\n"
                + "\n".join(nodes.tail(n, 10) for n in names)
            )
        await asyncio.sleep(0.1)


async def start_api(nodes: Cluster) -> None:
    """`Cluster.start_api` in a thread: it polls `/readyz` with blocking calls, and a proxy
    or a fake the API depends on may be served from this loop."""
    await asyncio.to_thread(nodes.start_api)


def log_tail(nodes: Cluster, *names: str, lines: int = 12, width: int = 300) -> str:
    """The last lines each process wrote, cut to `width` characters (tracebacks are long)."""
    return "\n".join(
        f"--- {name}\n" + "\n".join(line[:width] for line in nodes.tail(name, lines).splitlines())
        for name in names
    )
