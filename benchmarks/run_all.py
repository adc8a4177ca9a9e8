"""`make bench`: every benchmark once, each printing its own figures and the machine.

Budget on this 2-core machine: under 10 minutes in all (intake about 1.5 min, DNC about
1-2 min for 10 million numbers, dial about 1-3 min, agent turns seconds). Run it on a quiet
machine; run it twice before quoting figures.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RUNS = [
    ("agent_turns", ["--turns", "100"], 120),
    ("intake", ["--duration", "30", "--scenario", "both"], 300),
    ("dnc", ["--numbers", "10000000", "--lookups", "100000"], 300),
    ("dial", ["--tenants", "20", "--leads", "400", "--workers", "2"], 300),
]


def main() -> int:
    failed = []
    started = time.monotonic()
    for name, args, limit in RUNS:
        print(f"\n=== benchmarks/{name}.py {' '.join(args)}", flush=True)
        t0 = time.monotonic()
        try:
            code = subprocess.run(
                [sys.executable, str(HERE / f"{name}.py"), *args], timeout=limit, check=False
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
            print(f"{name}: timed out after {limit} s", flush=True)
        print(f"=== {name}: exit {code} in {time.monotonic() - t0:.0f} s", flush=True)
        if code != 0:
            failed.append(name)
    print(f"\nall benchmarks in {time.monotonic() - started:.0f} s; failed: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
