import pytest

from leadwire.leads.adapters.base import Headers, InboundRequest, LeadSourceAdapter
from leadwire.leads.adapters.registry import ADAPTERS, UnknownSource, adapter_for
from tests.leads.helpers import NOW


def test_contract_sources_are_registered():
    assert set(ADAPTERS) == {"meta", "hubspot", "salesforce", "google-ads", "zapier", "form"}
    for name, adapter in ADAPTERS.items():
        assert isinstance(adapter, LeadSourceAdapter)
        assert adapter.source == name
        assert adapter_for(name) is adapter


def test_app_level_endpoints_and_settings_keys():
    assert {n for n, a in ADAPTERS.items() if a.app_level} == {
        "meta",
        "hubspot",
        "salesforce",
        "google-ads",
    }
    assert adapter_for("google-ads").settings_key == "google_ads"
    assert {n for n, a in ADAPTERS.items() if a.platform_signed} == {"meta", "hubspot"}


@pytest.mark.parametrize("name", ["", "direct", "META", "google_ads", "../meta"])
def test_unknown_source_is_404(name):
    with pytest.raises(UnknownSource) as caught:
        adapter_for(name)
    assert caught.value.status_code == 404


def test_headers_are_case_insensitive_and_first_value_wins():
    headers = Headers([("X-Hub-Signature-256", "s3cr3t"), ("x-hub-signature-256", "b")])
    assert headers["x-HUB-signature-256"] == "s3cr3t"
    assert "X-HUB-SIGNATURE-256" in headers
    assert len(headers) == 1
    assert "s3cr3t" not in repr(headers)


def test_inbound_request_needs_an_aware_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        InboundRequest(
            method="POST", url="https://x/", headers={}, body=b"", now=NOW.replace(tzinfo=None)
        )


def test_inbound_request_reads_content_type_from_headers():
    req = InboundRequest(
        method="POST",
        url="https://x/y",
        headers={"Content-Type": "Application/JSON; charset=UTF-8"},
        body=b"{}",
        now=NOW,
    )
    assert isinstance(req.headers, Headers)
    assert (req.media_type, req.charset) == ("application/json", "utf-8")
