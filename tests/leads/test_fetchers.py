from datetime import UTC, datetime

import httpx
import pytest
import respx

from leadwire.leads.canonical import InboundLead, apply_update
from leadwire.leads.fetchers import fetch_hubspot_contact, fetch_meta_lead
from leadwire.platform.errors import ExternalServiceError, InvalidPayload

GRAPH = "https://graph.facebook.com/v25.0/123123123123"
HUBSPOT = "https://api.hubapi.com/crm/v3/objects/contacts/1246978"
TOKEN = "EAAG-page-token"

# Graph's lead read (integrations.md 1.6) with a few more answers.
META_LEAD = {
    "created_time": "2015-02-28T08:49:14+0000",
    "id": "123123123123",
    "ad_id": "12312312312",
    "form_id": "12312312312",
    "field_data": [
        {"name": "full_name", "values": ["Joe Example"]},
        {"name": "email", "values": ["joe@example.com"]},
        {"name": "phone_number", "values": ["+15555550100"]},
        {"name": "car_make", "values": ["Honda"]},
        {"name": "zip_code", "values": ["78701"]},
        {"name": "city", "values": ["Austin"]},
        {"name": "state", "values": ["TX"]},
        {"name": "which_services?", "values": ["heating", "cooling"]},
        {"name": "empty", "values": []},
    ],
    "custom_disclaimer_responses": [
        {"checkbox_key": "optional_1", "is_checked": "1"},
        {"checkbox_key": "optional_2", "is_checked": "0"},
    ],
}
HUBSPOT_CONTACT = {
    "id": "1246978",
    "properties": {
        "firstname": "Ada",
        "lastname": "Lovelace",
        "email": "ada@example.com",
        "phone": None,
        "mobilephone": "+15125550100",
        "zip": "78701",
        "state": "Texas",
        "city": "Austin",
        "message": "no heat",
        "hs_object_id": "1246978",
        "createdate": "2026-11-21T15:00:00Z",
        "lastmodifieddate": "2026-11-21T15:00:00Z",
    },
    "createdAt": "2026-11-21T15:00:00Z",
    "updatedAt": "2026-11-21T15:00:00Z",
    "archived": False,
}


@pytest.fixture
async def client():
    async with httpx.AsyncClient() as http:
        yield http


# --- Meta --------------------------------------------------------------------------------------
@respx.mock
async def test_meta_lead_mapping(client):
    route = respx.get(GRAPH).mock(return_value=httpx.Response(200, json=META_LEAD))
    update = await fetch_meta_lead(
        client, leadgen_id="123123123123", page_access_token=TOKEN, with_consent=True
    )
    sent = route.calls.last.request
    assert sent.url.params["access_token"] == TOKEN
    assert sent.url.params["fields"] == (
        "created_time,id,ad_id,form_id,field_data,custom_disclaimer_responses"
    )
    assert update.external_id == "123123123123"
    assert (update.name, update.email, update.phone) == (
        "Joe Example",
        "joe@example.com",
        "+15555550100",
    )
    assert (update.postal_code, update.state) == ("78701", "TX")
    assert update.custom_fields == {
        "car_make": "Honda",
        "city": "Austin",
        "which_services?": ["heating", "cooling"],
    }
    consent = update.consent
    assert consent is not None
    assert consent.source == "meta"
    assert consent.form_id == "12312312312"
    assert consent.timestamp == datetime(2015, 2, 28, 8, 49, 14, tzinfo=UTC)
    assert [(r.checkbox_key, r.is_checked) for r in consent.disclaimer_responses] == [
        ("optional_1", True),
        ("optional_2", False),
    ]

    pending = InboundLead(
        source="meta",
        natural_key="meta:123123123123",
        needs_fetch=True,
        fetch_ref={"leadgen_id": "123123123123", "page_id": "1"},
        custom_fields={"from_webhook": 1},
    )
    merged = apply_update(pending, update)
    assert merged.needs_fetch is False
    assert merged.phone == "+15555550100"
    assert merged.natural_key == "meta:123123123123"
    assert merged.custom_fields["from_webhook"] == 1


@respx.mock
async def test_meta_base_url_version_and_no_consent(client):
    route = respx.get("http://graph.test/v99.0/42").mock(
        return_value=httpx.Response(200, json={"id": 42, "field_data": []})
    )
    update = await fetch_meta_lead(
        client,
        leadgen_id="42",
        page_access_token=TOKEN,
        base_url="http://graph.test/",
        api_version="v99.0",
    )
    assert route.called
    assert "custom_disclaimer_responses" not in route.calls.last.request.url.params["fields"]
    assert update.external_id == "42"
    assert update.consent is None


@respx.mock
async def test_meta_503(client):
    respx.get(GRAPH).mock(
        return_value=httpx.Response(
            503, json={"error": {"message": "Service unavailable", "code": 2, "type": "Oauth"}}
        )
    )
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_meta_lead(client, leadgen_id="123123123123", page_access_token=TOKEN)
    error = caught.value
    assert (error.provider, error.http_status, error.provider_code) == ("meta", 503, 2)
    assert error.retry_after_s is None
    assert TOKEN not in str(error)


@respx.mock
async def test_meta_rate_limit_code_and_retry_after(client):
    respx.get(GRAPH).mock(
        return_value=httpx.Response(
            429,
            headers={"Retry-After": "120"},
            json={"error": {"message": "(#4) Application request limit reached", "code": 4}},
        )
    )
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_meta_lead(client, leadgen_id="123123123123", page_access_token=TOKEN)
    assert (caught.value.http_status, caught.value.provider_code) == (429, 4)
    assert caught.value.retry_after_s == 120.0


@respx.mock
async def test_meta_timeout_never_leaks_httpx(client):
    respx.get(GRAPH).mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_meta_lead(client, leadgen_id="123123123123", page_access_token=TOKEN)
    assert (caught.value.provider, caught.value.provider_code) == ("meta", "timeout")
    assert caught.value.http_status is None
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__ is True


@respx.mock
async def test_meta_connection_error(client):
    respx.get(GRAPH).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_meta_lead(client, leadgen_id="123123123123", page_access_token=TOKEN)
    assert caught.value.provider_code == "connection_error"


@respx.mock
@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, text="<html>"),
        httpx.Response(200, json=[1]),
        httpx.Response(200, json={"field_data": "x"}),
    ],
)
async def test_meta_unexpected_bodies(client, response):
    respx.get(GRAPH).mock(return_value=response)
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_meta_lead(client, leadgen_id="123123123123", page_access_token=TOKEN)
    assert caught.value.provider_code == "invalid_response"


@pytest.mark.parametrize("leadgen_id", ["", "../me", "1?x=1", "abc"])
async def test_meta_ids_never_reach_the_path(client, leadgen_id):
    with respx.mock(assert_all_called=False) as mock:
        route = mock.route().mock(return_value=httpx.Response(200, json={}))
        with pytest.raises(InvalidPayload):
            await fetch_meta_lead(client, leadgen_id=leadgen_id, page_access_token=TOKEN)
        assert not route.called


# --- HubSpot -----------------------------------------------------------------------------------
@respx.mock
async def test_hubspot_contact_mapping(client):
    route = respx.get(HUBSPOT).mock(return_value=httpx.Response(200, json=HUBSPOT_CONTACT))
    update = await fetch_hubspot_contact(client, object_id="1246978", access_token="pat-na1-x")
    sent = route.calls.last.request
    assert sent.headers["authorization"] == "Bearer pat-na1-x"
    assert sent.url.params["properties"] == (
        "firstname,lastname,email,phone,mobilephone,zip,state,city,message"
    )
    assert (update.first_name, update.last_name, update.email) == (
        "Ada",
        "Lovelace",
        "ada@example.com",
    )
    assert update.phone == "+15125550100"  # phone is null, mobilephone is used
    assert (update.postal_code, update.state, update.message) == ("78701", "Texas", "no heat")
    assert update.custom_fields == {"city": "Austin"}
    assert update.external_id == "1246978"


@respx.mock
async def test_hubspot_404_category(client):
    respx.get(HUBSPOT).mock(
        return_value=httpx.Response(
            404,
            json={
                "status": "error",
                "message": "Object not found. objectId are usually numeric.",
                "correlationId": "5c1b4f6c-...",
                "category": "OBJECT_NOT_FOUND",
            },
        )
    )
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_hubspot_contact(client, object_id="1246978", access_token="t")
    assert (caught.value.provider, caught.value.http_status, caught.value.provider_code) == (
        "hubspot",
        404,
        "OBJECT_NOT_FOUND",
    )


@respx.mock
async def test_hubspot_429_retry_after_and_503(client):
    respx.get(HUBSPOT).mock(
        side_effect=[
            httpx.Response(429, headers={"Retry-After": "10"}, json={"category": "RATE_LIMITS"}),
            httpx.Response(503, text="upstream unavailable"),
        ]
    )
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_hubspot_contact(client, object_id="1246978", access_token="t")
    assert (caught.value.http_status, caught.value.provider_code) == (429, "RATE_LIMITS")
    assert caught.value.retry_after_s == 10.0
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_hubspot_contact(client, object_id="1246978", access_token="t")
    assert (caught.value.http_status, caught.value.provider_code) == (503, None)


@respx.mock
async def test_hubspot_retry_after_as_http_date(client):
    respx.get(HUBSPOT).mock(
        return_value=httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    )
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_hubspot_contact(client, object_id="1246978", access_token="t")
    assert caught.value.retry_after_s == 0.0  # a date in the past: retry now


@respx.mock
async def test_hubspot_timeout_and_custom_base(client):
    respx.get("http://hubspot.test/crm/v3/objects/contacts/7").mock(
        side_effect=httpx.ConnectTimeout("slow")
    )
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_hubspot_contact(
            client, object_id="7", access_token="t", base_url="http://hubspot.test"
        )
    assert (caught.value.provider, caught.value.provider_code) == ("hubspot", "timeout")


@respx.mock
async def test_hubspot_body_without_properties(client):
    respx.get(HUBSPOT).mock(return_value=httpx.Response(200, json={"id": "1"}))
    with pytest.raises(ExternalServiceError) as caught:
        await fetch_hubspot_contact(client, object_id="1246978", access_token="t")
    assert caught.value.provider_code == "invalid_response"
