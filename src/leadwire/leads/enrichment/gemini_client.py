"""google-genai plumbing shared by the Gemini enricher and the Gemini call agent.

* `make_gemini_client` builds the real SDK client over an `httpx.AsyncClient` we own, so the
  same code path runs in production and under respx (the SDK's default async transport is
  aiohttp, which respx cannot see; reference/integrations.md section 8.4).
* `translate_gemini_error` turns whatever the SDK or the transport raised into a
  `GeminiFailure` (an `ExternalServiceError` with ``provider="gemini"``), deciding from
  exception types and status codes only.
* `FailureCounter` is the hook the metrics layer can replace: every failure is reported once.
"""

from __future__ import annotations

import enum
import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from leadwire.platform.errors import ExternalServiceError

PROVIDER = "gemini"
DEFAULT_MODEL = "gemini-2.5-flash"


class FailureReason(enum.StrEnum):
    NO_KEY = "no_key"
    TIMEOUT = "timeout"
    HTTP_ERROR = "http_error"
    TRANSPORT = "transport"
    SAFETY_BLOCK = "safety_block"
    INVALID_OUTPUT = "invalid_output"
    UNEXPECTED = "unexpected"


class GeminiFailure(ExternalServiceError):
    """Gemini could not give a usable answer; the caller falls back to the local floor.

    `reason` says why in a closed vocabulary (for metrics labels), `operation` which component
    asked (``"enrichment"``, ``"agent"``); `http_status` and `provider_code` (Google's status
    string such as ``RESOURCE_EXHAUSTED``) are set when Gemini answered with an error.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: FailureReason,
        operation: str,
        http_status: int | None = None,
        provider_code: str | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(
            message,
            provider=PROVIDER,
            provider_code=provider_code,
            http_status=http_status,
            retry_after_s=retry_after_s,
        )
        self.reason = reason
        self.operation = operation


FailureHook = Callable[[GeminiFailure], None]


class FailureCounter:
    """Counts failures by ``(operation, reason)``; pass it (or any `FailureHook`) to adapters."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def __call__(self, failure: GeminiFailure) -> None:
        self.counts[(failure.operation, failure.reason.value)] += 1

    def total(self, reason: FailureReason | None = None) -> int:
        return sum(n for (_, r), n in self.counts.items() if reason is None or r == reason)


def make_gemini_client(
    *,
    api_key: str | None,
    http_client: httpx.AsyncClient,
    api_version: str | None = None,
) -> genai.Client | None:
    """The real SDK client over `http_client`, or ``None`` when there is no key.

    ``None`` is the documented "no key" state: the adapters then answer from the local floor
    without trying the network.
    """
    if not api_key:
        return None
    return genai.Client(
        api_key=api_key,
        http_options=types.HttpOptions(httpx_async_client=http_client, api_version=api_version),
    )


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


def _retry_after(exc: genai_errors.APIError) -> float | None:
    """Retry delay from the `Retry-After` header or Google's structured `RetryInfo` detail."""
    response: Any = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if isinstance(headers, Mapping):  # httpx.Headers is a Mapping
        raw = headers.get("retry-after")
        if raw is not None:
            try:
                return max(0.0, float(raw))
            except ValueError:
                pass
    details = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else {}
    for detail in details.get("details", []) if isinstance(details, dict) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None


def translate_gemini_error(exc: BaseException, *, operation: str) -> GeminiFailure:
    """Map an exception raised around a google-genai call to a `GeminiFailure` (by type)."""
    if isinstance(exc, GeminiFailure):
        return exc
    if isinstance(exc, genai_errors.APIError):
        return GeminiFailure(
            f"Gemini answered HTTP {exc.code}",
            reason=FailureReason.HTTP_ERROR,
            operation=operation,
            http_status=exc.code,
            provider_code=exc.status,
            retry_after_s=_retry_after(exc),
        )
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return GeminiFailure(
            "Gemini did not answer in time", reason=FailureReason.TIMEOUT, operation=operation
        )
    if isinstance(exc, httpx.TransportError):
        return GeminiFailure(
            f"Gemini transport failed ({type(exc).__name__})",
            reason=FailureReason.TRANSPORT,
            operation=operation,
        )
    # UnknownApiResponseError is a ValueError; pydantic's ValidationError is one too.
    if isinstance(exc, ValueError | pydantic.ValidationError):
        return GeminiFailure(
            f"Gemini output was not valid ({type(exc).__name__})",
            reason=FailureReason.INVALID_OUTPUT,
            operation=operation,
        )
    return GeminiFailure(
        f"Gemini call failed unexpectedly ({type(exc).__name__})",
        reason=FailureReason.UNEXPECTED,
        operation=operation,
    )


BLOCKED_FINISH_REASONS = frozenset(
    {
        types.FinishReason.SAFETY,
        types.FinishReason.RECITATION,
        types.FinishReason.BLOCKLIST,
        types.FinishReason.PROHIBITED_CONTENT,
        types.FinishReason.SPII,
        types.FinishReason.MODEL_ARMOR,
    }
)
"""Finish reasons that mean the model's output was withheld for safety or policy."""

ACCEPTED_FINISH_REASONS = frozenset(
    {
        types.FinishReason.STOP,
        types.FinishReason.MAX_TOKENS,
        types.FinishReason.FINISH_REASON_UNSPECIFIED,
    }
)


def check_response(response: types.GenerateContentResponse, *, operation: str) -> None:
    """Raise `GeminiFailure` if a response (or stream chunk) was blocked or ended abnormally."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        raise GeminiFailure(
            "Gemini blocked the prompt",
            reason=FailureReason.SAFETY_BLOCK,
            operation=operation,
            provider_code=str(feedback.block_reason.value),
        )
    for candidate in response.candidates or ():
        finish = candidate.finish_reason
        if finish is None or finish in ACCEPTED_FINISH_REASONS:
            continue
        blocked = finish in BLOCKED_FINISH_REASONS
        raise GeminiFailure(
            f"Gemini stopped with {finish.value}",
            reason=FailureReason.SAFETY_BLOCK if blocked else FailureReason.INVALID_OUTPUT,
            operation=operation,
            provider_code=str(finish.value),
        )


def estimate_tokens(text: str) -> int:
    """Rough token count (about four characters a token) for text no model has counted."""
    return math.ceil(len(text) / 4) if text else 0


@dataclass(frozen=True, slots=True)
class GeminiPricing:
    """US dollars per million tokens; defaults are gemini-2.5-flash's list price (configurable,
    check the current price list before relying on the cost figures)."""

    input_usd_per_mtok: float = 0.30
    output_usd_per_mtok: float = 2.50

    def cost(self, *, input_tokens: int, output_tokens: int) -> float:
        return (
            input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok
        ) / 1_000_000
