"""Time from a caller's final prompt to the first outgoing token, local agent, 100 turns.

Run: ``uv run python benchmarks/agent_turns.py [--turns N]``. Drives `RelaySession` with the
deterministic `LocalAgent` exactly as the WebSocket route would (one `handle` per frame) and
prints p50/p95/max of prompt-to-first-token latency next to the 800 ms target, plus the
machine it ran on. Calls that end (booked, qualified) are replaced by a fresh one.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from itertools import cycle

import psutil

from leadwire.leads.enrichment import LeadFacts
from leadwire.telephony.agent import CallContext, LocalAgent, RelaySession

TARGET_MS = 800.0
SETUP = {"type": "setup", "sessionId": "VX0", "callSid": "CA0", "to": "+15550000000"}
ANSWERS = (
    "It's pretty urgent, today if you can",
    "The address is 1200 Barton Springs Road",
    "Hmm, I'm not sure, maybe ten years",
    "Sorry, can you repeat that?",
    "Tomorrow afternoon after 2 pm",
    "Let me think about it",
    "are you a real person?",
    "Yes, please book it",
)


def new_session() -> RelaySession:
    context = CallContext(
        business_name="Acme HVAC",
        phone="+15550000000",
        lead=LeadFacts(
            name="Sarah Johnson",
            service="HVAC Emergency",
            message="AC not cooling, house is 90 degrees",
            postal_code="78701",
        ),
        script="Ask: How old is the unit? Do you own the home?",
        transfer_number="+15550000001",
        callback_number="+15550000002",
    )
    return RelaySession(context=context, agent=LocalAgent())


async def measure(turns: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    answers = cycle(ANSWERS)
    calls = 0
    session: RelaySession | None = None
    while len(latencies) < turns:
        if session is None or session.ended:
            session = new_session()
            calls += 1
            async for _ in session.handle(SETUP):
                pass
        frame = {"type": "prompt", "voicePrompt": next(answers), "lang": "en-US", "last": True}
        started = time.perf_counter()
        first: float | None = None
        async for out in session.handle(frame):
            if first is None and out["type"] == "text":
                first = time.perf_counter()
        if first is not None:
            latencies.append((first - started) * 1000)
    return latencies, calls


def cpu_model() -> str:
    """The CPU's marketing name (Linux reports it in /proc/cpuinfo, not in `platform`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "processor not reported"


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description="prompt-to-first-token latency, local agent")
    parser.add_argument("--turns", type=int, default=100)
    args = parser.parse_args()

    latencies, calls = asyncio.run(measure(args.turns))
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    memory_gib = psutil.virtual_memory().total / 2**30
    print(
        f"machine: {platform.machine()} {platform.system()} {platform.release()}, "
        f"{os.cpu_count()} CPUs ({cpu_model()}), "
        f"{memory_gib:.1f} GiB RAM, load {os.getloadavg()[0]:.2f}, "
        f"Python {sys.version.split()[0]}"
    )
    print(f"turns: {len(latencies)} over {calls} calls (local agent, prompt -> first token)")
    print(
        f"p50 {p50:.3f} ms  p95 {p95:.3f} ms  max {max(latencies):.3f} ms  "
        f"mean {statistics.fmean(latencies):.3f} ms  target p95 < {TARGET_MS:.0f} ms: "
        f"{'met' if p95 < TARGET_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
