from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import respx
from google import genai

from leadwire.leads.enrichment import make_gemini_client

GENERATE = r"https://generativelanguage\.googleapis\.com/v1/models/[^/:]+:generateContent"


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def gemini_client(http_client: httpx.AsyncClient) -> genai.Client:
    client = make_gemini_client(api_key="test-key", http_client=http_client)
    assert client is not None
    return client


@pytest.fixture
def gemini_api() -> respx.MockRouter:
    with respx.mock(assert_all_called=False) as router:
        yield router
