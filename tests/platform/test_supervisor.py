"""`leadwire up`'s children: which processes, with which arguments (the process tree itself
is exercised in test_cli.py)."""

from __future__ import annotations

import pytest

from leadwire.cli import build_parser
from leadwire.platform.errors import ConfigurationError
from leadwire.supervisor import child_processes

ME = ["python", "-m", "leadwire.cli"]


def test_without_a_metrics_port_the_workers_serve_no_metrics() -> None:
    children = child_processes(ME, host="127.0.0.1", port=8000, workers=2)
    assert [c.name for c in children] == ["api", "worker-1", "worker-2", "scheduler"]
    assert not any("--metrics-port" in c.argv for c in children)


def test_each_worker_process_gets_its_own_metrics_port() -> None:
    children = child_processes(ME, host="127.0.0.1", port=8000, workers=2, metrics_port=9100)
    by_name = {c.name: c.argv[len(ME) :] for c in children}
    assert by_name == {
        "api": ["serve", "--host", "127.0.0.1", "--port", "8000"],
        "worker-1": ["worker", "--metrics-port", "9100"],
        "worker-2": ["worker", "--metrics-port", "9101"],
        "scheduler": ["worker", "--queues", "maintenance", "--metrics-port", "9102"],
    }
    parser = build_parser()
    for argv in by_name.values():
        parser.parse_args(argv)  # real commands and flags


def test_metrics_ports_past_the_last_port_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="LEADWIRE_WORKER_METRICS_PORT 65535"):
        child_processes(ME, host="127.0.0.1", port=8000, workers=1, metrics_port=65_535)
