"""Gemini enricher against the real google-genai client, intercepted by respx at HTTP level."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import respx
from google import genai

from leadwire.leads.enrichment import (
    FailureCounter,
    FailureReason,
    GeminiEnricher,
    Intent,
    LeadFacts,
    ServiceCategory,
    Urgency,
    ValueSignal,
    enrich_locally,
    make_gemini_client,
)

from .conftest import GENERATE

LEAD = LeadFacts(
    service="HVAC Emergency",
    message="Furnace died overnight, no heat and we have a newborn. Please come today.",
    postal_code="78701",
)


def model_json(payload: dict[str, Any] | str) -> httpx.Response:
    """A generateContent answer shaped as the REST API sends it."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return httpx.Response(
        200,
        json={
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": text}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": 210, "candidatesTokenCount": 60},
            "modelVersion": "gemini-2.5-flash",
        },
    )


GOOD = {
    "intent": "buy",
    "intent_evidence": ["Please come today"],
    "urgency": "emergency",
    "urgency_evidence": ["no heat and we have a newborn"],
    "service_category": "hvac",
    "service_evidence": ["Furnace died overnight"],
    "value_signal": "medium",
    "value_evidence": ["Furnace died"],
}


async def test_structured_output_is_requested_validated_and_grounded(
    gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    route = gemini_api.post(url__regex=GENERATE).mock(return_value=model_json(GOOD))
    counter = FailureCounter()
    result = await GeminiEnricher(client=gemini_client, on_failure=counter).enrich(LEAD)

    assert result.source == "gemini"
    assert (result.intent, result.urgency, result.service_category, result.value_signal) == (
        Intent.BUY,
        Urgency.EMERGENCY,
        ServiceCategory.HVAC,
        ValueSignal.MEDIUM,
    )
    assert counter.total() == 0

    body = json.loads(route.calls.last.request.content)
    config = body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    schema = config["responseSchema"]
    assert schema["type"] == "OBJECT"
    assert set(schema["required"]) >= {"intent", "urgency", "service_category", "value_signal"}
    assert "hvac" in schema["properties"]["service_category"]["enum"]
    assert "never instructions" in body["systemInstruction"]["parts"][0]["text"]
    lead_text = body["contents"][0]["parts"][0]["text"]
    assert "Furnace died overnight" in lead_text
    assert route.calls.last.request.headers["x-goog-api-key"] == "test-key"


async def test_invented_evidence_is_downgraded_not_trusted(
    gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    answer = dict(GOOD, service_category="plumbing", service_evidence=["a pipe burst"])
    gemini_api.post(url__regex=GENERATE).mock(return_value=model_json(answer))
    result = await GeminiEnricher(client=gemini_client).enrich(LEAD)
    assert result.service_category is ServiceCategory.UNKNOWN
    assert result.downgraded == ("service_category",)
    assert result.urgency is Urgency.EMERGENCY


@pytest.mark.parametrize(
    ("response", "reason", "status"),
    [
        (
            httpx.Response(
                429,
                json={
                    "error": {
                        "code": 429,
                        "message": "Resource has been exhausted (e.g. check quota).",
                        "status": "RESOURCE_EXHAUSTED",
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                                "retryDelay": "17s",
                            }
                        ],
                    }
                },
            ),
            FailureReason.HTTP_ERROR,
            429,
        ),
        (
            httpx.Response(
                503,
                json={"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}},
            ),
            FailureReason.HTTP_ERROR,
            503,
        ),
        (model_json("{not json"), FailureReason.INVALID_OUTPUT, None),
        (model_json({"intent": "buy"}), FailureReason.INVALID_OUTPUT, None),  # schema violated
        (model_json(dict(GOOD, urgency="apocalyptic")), FailureReason.INVALID_OUTPUT, None),
        (
            httpx.Response(200, json={"promptFeedback": {"blockReason": "SAFETY"}}),
            FailureReason.SAFETY_BLOCK,
            None,
        ),
        (
            httpx.Response(
                200,
                json={"candidates": [{"finishReason": "SAFETY", "index": 0}]},
            ),
            FailureReason.SAFETY_BLOCK,
            None,
        ),
    ],
)
async def test_failures_fall_back_to_local_and_are_counted(
    gemini_client: genai.Client,
    gemini_api: respx.MockRouter,
    response: httpx.Response,
    reason: FailureReason,
    status: int | None,
) -> None:
    gemini_api.post(url__regex=GENERATE).mock(return_value=response)
    failures: list[Any] = []
    counter = FailureCounter()

    def hook(failure: Any) -> None:
        failures.append(failure)
        counter(failure)

    result = await GeminiEnricher(client=gemini_client, on_failure=hook).enrich(LEAD)

    assert result == enrich_locally(LEAD, fallback_reason=reason.value)
    assert counter.counts == {("enrichment", reason.value): 1}
    (failure,) = failures
    assert failure.provider == "gemini"
    assert failure.http_status == status
    assert failure.error_class.value == "external"
    if status == 429:
        assert failure.provider_code == "RESOURCE_EXHAUSTED"
        assert failure.retry_after_s == 17.0


async def test_a_slow_answer_hits_the_timeout_budget(
    gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    async def slow(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(5)
        return model_json(GOOD)

    gemini_api.post(url__regex=GENERATE).mock(side_effect=slow)
    counter = FailureCounter()
    enricher = GeminiEnricher(client=gemini_client, timeout_s=0.05, on_failure=counter)
    result = await asyncio.wait_for(enricher.enrich(LEAD), timeout=2)
    assert result.source == "local"
    assert result.fallback_reason == "timeout"
    assert counter.counts == {("enrichment", "timeout"): 1}


async def test_transport_timeouts_and_errors_are_classified(
    gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    route = gemini_api.post(url__regex=GENERATE)
    counter = FailureCounter()
    enricher = GeminiEnricher(client=gemini_client, on_failure=counter)
    route.mock(side_effect=httpx.ReadTimeout("read timed out"))
    assert (await enricher.enrich(LEAD)).fallback_reason == "timeout"
    route.mock(side_effect=httpx.ConnectError("refused"))
    assert (await enricher.enrich(LEAD)).fallback_reason == "transport"
    assert counter.total() == 2


async def test_no_key_uses_the_floor_without_touching_the_network(
    http_client: httpx.AsyncClient, gemini_api: respx.MockRouter
) -> None:
    route = gemini_api.post(url__regex=GENERATE).mock(return_value=model_json(GOOD))
    client = make_gemini_client(api_key=None, http_client=http_client)
    counter = FailureCounter()
    result = await GeminiEnricher(client=client, on_failure=counter).enrich(LEAD)
    assert result.fallback_reason == "no_key"
    assert counter.counts == {("enrichment", "no_key"): 1}
    assert not route.called


async def test_a_broken_failure_hook_does_not_break_the_floor(
    gemini_client: genai.Client, gemini_api: respx.MockRouter
) -> None:
    gemini_api.post(url__regex=GENERATE).mock(return_value=httpx.Response(500, json={}))

    def broken(failure: object) -> None:
        raise RuntimeError("metrics down")

    result = await GeminiEnricher(client=gemini_client, on_failure=broken).enrich(LEAD)
    assert result.source == "local"
