"""Hypothesis through HTTP: no input makes an intake route answer 500 or store a half lead.

Each route gets arbitrary bodies, content types and headers (refused early), and arbitrary
payloads correctly signed for the route (so they reach parsing, normalization and the store:
NUL characters, lone surrogates, huge numbers, over-long fields...).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadwire.platform.state import AppState
from leadwire.tenants.models import Tenant
from tests.leads.adapters.stdwebhooks import std_headers
from tests.leads.adapters.test_fuzz import BODIES, CONTENT_TYPES, HEADERS, JSON, KEYS, XML
from tests.leads.checks import half_leads
from tests.leads.deliveries import (
    FORM_SECRET,
    GOOGLE_KEY,
    META_PAGE,
    ORG,
    PORTAL,
    ZAPIER_SECRET,
    hubspot_signed,
)
from tests.leads.helpers import meta_sign

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NASTY = st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "x\udfffy", "x" * 400, "+1 512 867 5309", "ＡＢＣ", "", " "]
)
LEAF = JSON | NASTY | st.integers(min_value=-(2**200), max_value=2**200)
RECORD = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=12), LEAF, max_size=10)
DIGITS = st.integers(min_value=0, max_value=2**64) | st.from_regex(r"\A[0-9]{1,32}\Z")


def _meta(value: dict[str, Any]) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": META_PAGE, "changes": [value]}]}


META = st.builds(
    lambda leadgen, extra: _meta(
        {"field": "leadgen", "value": {"leadgen_id": leadgen, "page_id": META_PAGE, **extra}}
    ),
    DIGITS | LEAF,
    RECORD,
)
HUBSPOT = st.lists(
    st.fixed_dictionaries(
        {"subscriptionType": st.just("contact.creation"), "portalId": st.just(PORTAL)},
        optional={"objectId": DIGITS | LEAF},
    ),
    max_size=3,
) | st.builds(lambda r: {**r, "portalId": PORTAL}, RECORD)
GOOGLE = st.builds(
    lambda lead_id, columns, extra: {
        **extra,
        "lead_id": lead_id,
        "google_key": GOOGLE_KEY,
        "user_column_data": columns,
    },
    st.text(min_size=1, max_size=30) | LEAF,
    st.lists(
        st.fixed_dictionaries(
            {
                "column_id": st.sampled_from(["FULL_NAME", "PHONE_NUMBER", "EMAIL", "REGION"])
                | LEAF,
                "string_value": LEAF,
            }
        ),
        max_size=5,
    )
    | LEAF,
    RECORD,
)
GENERIC = RECORD | st.lists(RECORD, max_size=3)
SALESFORCE = XML.map(lambda body: body.replace(b"00D000000000001", ORG[:15].encode()))


def _dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def signed(route: str, payload: Any, key: str) -> tuple[str, bytes, dict[str, str]]:
    """(path, body, headers) of a delivery that authenticates for `route`."""
    json_type = {"Content-Type": "application/json"}
    if route.startswith("meta"):
        body = _dumps(payload)
        path = "/v1/webhooks/meta" + ("/acme" if route == "meta-tenant" else "")
        return path, body, {**json_type, "X-Hub-Signature-256": meta_sign_platform(body)}
    if route.startswith("hubspot"):
        body = _dumps(payload)
        path = "/v1/webhooks/hubspot" + ("/acme" if route == "hubspot-tenant" else "")
        return path, body, hubspot_signed(path, body, at=datetime.now(UTC))
    if route.startswith("google"):
        path = "/v1/webhooks/google-ads" + ("/acme" if route == "google-tenant" else "")
        return path, _dumps(payload), json_type
    if route.startswith("salesforce"):
        path = "/v1/webhooks/salesforce" + ("/acme" if route == "salesforce-tenant" else "")
        return path, payload, {"Content-Type": "text/xml"}
    if route == "zapier":
        body = _dumps(payload)
        return (
            "/v1/webhooks/zapier/acme",
            body,
            {**json_type, "Authorization": f"Bearer {ZAPIER_SECRET}"},
        )
    if route == "form":
        body = _dumps(payload)
        headers = std_headers(FORM_SECRET, body, msg_id="msg_fuzz", at=datetime.now(UTC))
        return "/v1/webhooks/form/acme", body, {**json_type, **headers}
    body = _dumps(payload)
    return "/v1/leads", body, {**json_type, "Authorization": f"Bearer {key}"}


def meta_sign_platform(body: bytes) -> str:
    from tests.leads.deliveries import META_APP_SECRET

    return meta_sign(META_APP_SECRET, body)


PAYLOADS = {
    "meta-app": META,
    "meta-tenant": META,
    "hubspot-app": HUBSPOT,
    "hubspot-tenant": HUBSPOT,
    "google-app": GOOGLE,
    "google-tenant": GOOGLE,
    "salesforce-app": SALESFORCE,
    "salesforce-tenant": SALESFORCE,
    "zapier": GENERIC,
    "form": GENERIC,
    "direct": GENERIC,
}
PATHS = {
    "meta-app": "/v1/webhooks/meta",
    "meta-tenant": "/v1/webhooks/meta/acme",
    "hubspot-app": "/v1/webhooks/hubspot",
    "hubspot-tenant": "/v1/webhooks/hubspot/acme",
    "google-app": "/v1/webhooks/google-ads",
    "google-tenant": "/v1/webhooks/google-ads/acme",
    "salesforce-app": "/v1/webhooks/salesforce",
    "salesforce-tenant": "/v1/webhooks/salesforce/acme",
    "zapier": "/v1/webhooks/zapier/acme",
    "form": "/v1/webhooks/form/acme",
    "direct": "/v1/leads",
}


def _no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])


@pytest.mark.parametrize("route", list(PAYLOADS))
@FUZZ
@given(data=st.data())
async def test_signed_arbitrary_payloads(
    route: str,
    intake: httpx.AsyncClient,
    intake_state: AppState,
    acme: tuple[Tenant, str],
    data: st.DataObject,
) -> None:
    path, body, headers = signed(route, data.draw(PAYLOADS[route], label="payload"), acme[1])
    _no_server_error(await intake.post(path, content=body, headers=headers))
    assert await half_leads(intake_state) == 0


@pytest.mark.parametrize("route", list(PATHS))
@FUZZ
@given(body=BODIES, content_type=CONTENT_TYPES, headers=HEADERS)
async def test_arbitrary_requests(
    route: str,
    intake: httpx.AsyncClient,
    intake_state: AppState,
    acme: tuple[Tenant, str],
    body: bytes,
    content_type: str | None,
    headers: dict[str, str],
) -> None:
    sent = {k: v for k, v in headers.items() if v.isascii() and "\n" not in v and "\r" not in v}
    if content_type is not None:
        sent["Content-Type"] = content_type
    _no_server_error(await intake.post(PATHS[route], content=body, headers=sent))
    assert await half_leads(intake_state) == 0
