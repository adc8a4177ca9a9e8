"""JSON-lines logging with request/tenant/lead context and PII masking; Prometheus metrics.

Every log line is one JSON object. Phone numbers and emails are masked wherever they appear:
in the message, in `extra` fields and in exception text (`+1512***0100`, `s***@example.com`).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import re
import sys
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from leadwire.platform.errors import ConfigurationError

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
tenant_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "tenant_id", default=None
)
lead_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("lead_id", default=None)

_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
# E.164 or loose national formats with 10+ digits; keep country code + 3, mask the middle.
_PHONE = re.compile(r"(?<![\w+])(\+?\d[\d\s().-]{8,}\d)(?![\w])")


def _mask_phone(match: re.Match[str]) -> str:
    raw = match.group(1)
    digits = re.sub(r"\D", "", raw)
    if len(digits) < 10 or len(digits) > 15:
        return raw
    plus = "+" if raw.startswith("+") else ""
    if not plus and len(digits) > 11:
        return raw  # without "+", only 10-11 digit national numbers; not ids or timestamps
    head = digits[:4] if plus else digits[:3]
    return f"{plus}{head}***{digits[-4:]}"


def mask_pii(text: str) -> str:
    """Mask emails and phone numbers in free text."""
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE.sub(_mask_phone, text)


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {k: _mask_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask_value(v) for v in value]
    return value


_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask_pii(record.getMessage()),
        }
        for key, var in (
            ("request_id", request_id_var),
            ("tenant_id", tenant_id_var),
            ("lead_id", lead_id_var),
        ):
            value = var.get()
            if value is not None:
                entry[key] = value
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = _mask_value(value)
        if record.exc_info:
            entry["exc"] = mask_pii(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("uvicorn.access", "httpx", "httpcore", "asyncio", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "saq"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # SAQ logs every enqueue and job at INFO: a line per lead on the hot path.
    logging.getLogger("saq").setLevel(max(logging.WARNING, logging.getLevelName(level)))


class Metrics:
    """The process's Prometheus series; every name starts with `leadwire_`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "leadwire_http_requests_total",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_latency = Histogram(
            "leadwire_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.leads_received = Counter(
            "leadwire_leads_received_total",
            "Leads received by source and result",
            ["source", "result"],
            registry=r,
        )
        self.security_events = Counter(
            "leadwire_security_events_total",
            "Refused requests (bad signatures, bad tokens, abuse limits)",
            ["kind"],
            registry=r,
        )
        self.errors = Counter(
            "leadwire_errors_total",
            "Classified failures by error class",
            ["error_class", "code"],
            registry=r,
        )
        self.speed_to_lead = Histogram(
            "leadwire_speed_to_lead_seconds",
            "Time from a lead's receipt to its first dial request",
            ["priority"],
            buckets=(0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600),
            registry=r,
        )
        self.ai_failures = Counter(
            "leadwire_ai_failures_total",
            "AI calls that fell back to the deterministic floor",
            ["component", "reason"],
            registry=r,
        )
        self.up = Gauge("leadwire_up", "1 while the process serves", registry=r)
        self.up.set(1)


@contextlib.contextmanager
def metrics_http_server(metrics: Metrics, *, host: str, port: int) -> Iterator[int | None]:
    """Serve the process's series at `http://host:port/metrics` while the block runs.

    For processes without an HTTP app of their own (the workers): the series their jobs record
    (dials, speed to lead, job errors) live in their memory, and Prometheus scrapes each one.
    prometheus_client's own server answers from a thread, so a busy event loop does not delay
    a scrape. Port 0 is off (yields None). A port that cannot be bound fails start-up.
    """
    if not port:
        yield None
        return
    try:
        server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:
        raise ConfigurationError(
            f"LEADWIRE_WORKER_METRICS_PORT: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    try:
        yield port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
