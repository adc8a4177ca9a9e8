"""Deliveries as each provider makes them, for the intake's HTTP tests.

Payloads follow the providers' documented examples (integrations.md sections 1-5) and are
signed with the real algorithms from `tests.leads.helpers` (written independently of the
production code). Each `Delivery` knows how to make a tampered copy that must be refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.leads.adapters.stdwebhooks import std_headers
from tests.leads.helpers import flip_one_byte, hs_v2, hs_v3, meta_sign

BASE = "https://leadwire.test"  # the test settings' LEADWIRE_PUBLIC_URL
META_APP_SECRET = "meta-app-secret-0123456789abcdef"
META_VERIFY_TOKEN = "meta-verify-token-0123"
HUBSPOT_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
META_PAGE = "123123123"
PORTAL = 62515
ORG = "00D000000000062EAA"
GOOGLE_KEY = "my-google-key-4f9a"
ZAPIER_SECRET = "zapier-secret-0123456789"
FORM_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ORIGIN = "https://example.com"
PAGE_TOKEN = "EAAG-page-token"
HUBSPOT_TOKEN = "pat-na1-hubspot-token"

TENANT_SETTINGS: dict[str, Any] = {
    "sources": {
        "meta": {"page_ids": [META_PAGE], "page_access_token": PAGE_TOKEN},
        "hubspot": {"portal_id": PORTAL, "access_token": HUBSPOT_TOKEN},
        "salesforce": {"organization_id": ORG},
        "google_ads": {"google_key": GOOGLE_KEY},
        "zapier": {"secret": ZAPIER_SECRET},
        "form": {"secret": FORM_SECRET, "public": True, "allowed_origins": [ORIGIN]},
    },
    "field_map": {"what_service_do_you_need": "service"},
}


def phone(n: int) -> str:
    """A valid, usable US number, different for every `n` below 10,000."""
    return f"+1512867{n:04d}"


def national(n: int) -> str:
    """The same number as a person types it."""
    return f"(512) 867-{n:04d}"


@dataclass(frozen=True)
class Delivery:
    """One HTTP request as a provider sends it."""

    source: str
    path: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    phones: tuple[str, ...] = ()
    """E.164 phones the delivery's leads are stored with (empty: ids only, fetched later)."""
    tamper: Callable[[Delivery], Delivery] | None = None
    leads: int = 1

    async def send(self, client: httpx.AsyncClient) -> httpx.Response:
        return await client.post(self.path, content=self.body, headers=self.headers)

    def tampered(self) -> Delivery:
        if self.tamper is not None:
            return self.tamper(self)
        return replace(self, body=flip_one_byte(self.body))


# --- Meta ---------------------------------------------------------------------------------------
def meta_body(leadgen_ids: list[str], page: str = META_PAGE) -> bytes:
    now = int(time.time())
    return json.dumps(
        {
            "object": "page",
            "entry": [
                {
                    "id": page,
                    "time": now,
                    "changes": [
                        {
                            "field": "leadgen",
                            "value": {
                                "leadgen_id": leadgen_id,
                                "page_id": page,
                                "form_id": "12312312312",
                                "adgroup_id": "12312312312",
                                "ad_id": "12312312312",
                                "created_time": now,
                            },
                        }
                        for leadgen_id in leadgen_ids
                    ],
                }
            ],
        }
    ).encode()


def meta(n: int, *, slug: str | None = None, page: str = META_PAGE, batch: int = 1) -> Delivery:
    body = meta_body([str(440000000000 + n * 10 + i) for i in range(batch)], page)
    return Delivery(
        source="meta",
        path="/v1/webhooks/meta" + (f"/{slug}" if slug else ""),
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": meta_sign(META_APP_SECRET, body),
        },
        leads=batch,
    )


# --- HubSpot ------------------------------------------------------------------------------------
def hubspot_signed(path: str, body: bytes, *, at: datetime | None = None) -> dict[str, str]:
    stamp = str(int((at or datetime.now(UTC)).timestamp() * 1000))
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": hs_v3(HUBSPOT_SECRET, "POST", BASE + path, body.decode(), stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def hubspot_events(n: int, *, portal: int = PORTAL, at: datetime | None = None) -> Delivery:
    """A Webhooks API batch (integrations.md 2.2): a property change (ignored) and a contact
    creation (a lead, fetched from the CRM later), signed v3."""
    body = json.dumps(
        [
            {
                "objectId": 1246965,
                "propertyName": "lifecyclestage",
                "propertyValue": "subscriber",
                "changeSource": "ACADEMY",
                "eventId": 3816279340,
                "subscriptionId": 25,
                "portalId": portal,
                "appId": 1160452,
                "occurredAt": 1462216307945,
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
            },
            {
                "objectId": 1246978 + n,
                "changeSource": "IMPORT",
                "eventId": 3816279480 + n,
                "subscriptionId": 22,
                "portalId": portal,
                "appId": 1160452,
                "occurredAt": 1462216307945,
                "subscriptionType": "contact.creation",
                "attemptNumber": 0,
            },
        ]
    ).encode()
    path = "/v1/webhooks/hubspot"
    return Delivery("hubspot", path, body, hubspot_signed(path, body, at=at))


def hubspot_workflow(n: int, *, slug: str = "acme") -> Delivery:
    """A workflow "Send a webhook" customized body with the properties inline, signed v2."""
    path = f"/v1/webhooks/hubspot/{slug}"
    body = json.dumps(
        {
            "hs_object_id": str(5000 + n),
            "portalId": PORTAL,
            "firstname": "Ada",
            "lastname": "Lovelace",
            "phone": national(n),
            "email": f"ada{n}@example.com",
            "what_service_do_you_need": "Furnace repair",
            "message": "No heat since last night",
        }
    ).encode()
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature": hs_v2(HUBSPOT_SECRET, "POST", BASE + path, body.decode()),
        "X-HubSpot-Signature-Version": "v2",
    }
    return Delivery("hubspot", path, body, headers, phones=(phone(n),))


# --- Salesforce ---------------------------------------------------------------------------------
def salesforce_body(n: int, org: str = ORG) -> bytes:
    notes = "".join(
        f"""
   <Notification>
    <Id>04l0000000{n:04d}{i}AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q0000000{n:04d}{i}EAA</sf:Id>
     <sf:FirstName>Ada</sf:FirstName>
     <sf:LastName>Lovelace {i}</sf:LastName>
     <sf:Phone>{phone(n + 5000 + i)}</sf:Phone>
    </sObject>
   </Notification>"""
        for i in range(2)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:xsd="http://www.w3.org/2001/XMLSchema"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{org}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/66.0/{org[:15]}</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/66.0/{org[:15]}</PartnerUrl>{notes}
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
""".encode()


def _salesforce_other_org(delivery: Delivery) -> Delivery:
    # Outbound messages carry no signature: the OrganizationId is what authenticates them.
    return replace(delivery, body=delivery.body.replace(ORG.encode(), b"00D000000000099EAA"))


def salesforce(n: int, *, slug: str | None = None, org: str = ORG) -> Delivery:
    return Delivery(
        "salesforce",
        "/v1/webhooks/salesforce" + (f"/{slug}" if slug else ""),
        salesforce_body(n, org),
        {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
        phones=(phone(n + 5000), phone(n + 5001)),
        tamper=_salesforce_other_org,
        leads=2,
    )


# --- Google Ads ---------------------------------------------------------------------------------
def _column(name: str, value: str, column_id: str) -> dict[str, str]:
    return {"column_name": name, "string_value": value, "column_id": column_id}


def _bearer(value: str) -> Callable[[Delivery], Delivery]:
    """A tamper that presents `value` with one byte changed as the bearer secret."""
    wrong = flip_one_byte(value.encode()).decode()
    return lambda d: replace(d, headers={**d.headers, "Authorization": f"Bearer {wrong}"})


def google_body(n: int, *, key: str = GOOGLE_KEY, is_test: bool = False) -> bytes:
    return json.dumps(
        {
            "lead_id": f"TeSter-{n}-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz",
            "user_column_data": [
                _column("Full Name", "FirstName LastName", "FULL_NAME"),
                _column("User Email", f"test{n}@example.com", "EMAIL"),
                _column("User Phone", phone(n + 6000), "PHONE_NUMBER"),
                _column("Postal Code", "94043", "POSTAL_CODE"),
            ],
            "api_version": "1.0",
            "form_id": 18698608977,
            "campaign_id": 991214827,
            "google_key": key,
            "is_test": is_test,
            "gcl_id": "TeSter-123-ABCDEFGHIJKLMNOPQRSTUVWXYZ-abcdefghijklmnopqrstuvwxyz",
            "adgroup_id": 20000000000,
            "creative_id": 30000000000,
        }
    ).encode()


def _google_wrong_key(delivery: Delivery) -> Delivery:
    body = delivery.body.replace(GOOGLE_KEY.encode(), flip_one_byte(GOOGLE_KEY.encode()))
    return replace(delivery, body=body)


def google(n: int, *, slug: str | None = None, key: str = GOOGLE_KEY) -> Delivery:
    return Delivery(
        "google-ads",
        "/v1/webhooks/google-ads" + (f"/{slug}" if slug else ""),
        google_body(n, key=key),
        {"Content-Type": "application/json"},
        phones=(phone(n + 6000),),
        tamper=_google_wrong_key,
    )


# --- Zapier and forms ---------------------------------------------------------------------------
def zapier(n: int, *, slug: str = "acme") -> Delivery:
    body = json.dumps(
        {
            "lead_id": f"zap-{n}",
            "full_name": "Sarah Johnson",
            "phone_number": national(n + 7000),
            "email": f"sarah{n}@example.com",
            "what_service_do_you_need": "AC repair",
            "zip": "78701",
        }
    ).encode()
    return Delivery(
        "zapier",
        f"/v1/webhooks/zapier/{slug}",
        body,
        {"Content-Type": "application/json", "Authorization": f"Bearer {ZAPIER_SECRET}"},
        phones=(phone(n + 7000),),
        tamper=_bearer(ZAPIER_SECRET),
    )


def form_signed(n: int, *, slug: str = "acme") -> Delivery:
    """A server-side form backend posting JSON with a Standard Webhooks signature."""
    body = json.dumps(
        {"name": "Maria Garcia", "phone": national(n + 8000), "email": f"m{n}@example.com"}
    ).encode()
    headers = {
        "Content-Type": "application/json",
        **std_headers(FORM_SECRET, body, msg_id=f"msg_{n}", at=datetime.now(UTC)),
    }
    return Delivery("form", f"/v1/webhooks/form/{slug}", body, headers, phones=(phone(n + 8000),))


def form_public(n: int, *, slug: str = "acme", origin: str = ORIGIN) -> Delivery:
    """An unsigned browser post from the tenant's allowed origin (form-encoded)."""
    body = urlencode(
        {
            "external_id": f"web-{n}",
            "name": "Li Wei",
            "tel": national(n + 9000),
            "email": f"li{n}@example.com",
            "message": "Water leaking under the sink",
            "consent": "on",
            "_hp": "",
        }
    ).encode()
    return Delivery(
        "form",
        f"/v1/webhooks/form/{slug}",
        body,
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Origin": origin,
            "User-Agent": "Mozilla/5.0",
            "Referer": f"{ORIGIN}/quote",
        },
        phones=(phone(n + 9000),),
        tamper=lambda d: replace(d, headers={**d.headers, "Origin": "https://evil.example"}),
    )


def direct(n: int, key: str, *, external_id: str | None = None) -> Delivery:
    lead: dict[str, Any] = {
        "name": "Sarah Johnson",
        "phone": phone(n + 3000),
        "email": f"sarah{n}@example.com",
        "service": "HVAC Emergency",
        "postal_code": "78701",
        "state": "TX",
        "campaign_id": "google_ads_hvac",
        "consent": {"granted": True, "text": "By submitting...", "ip": "203.0.113.7"},
    }
    if external_id is not None:
        lead["external_id"] = external_id
    return Delivery(
        "api",
        "/v1/leads",
        json.dumps(lead).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        phones=(phone(n + 3000),),
        tamper=_bearer(key),
    )


def all_sources(n: int, key: str) -> dict[str, Delivery]:
    """One delivery of every kind, named for test ids."""
    return {
        "meta-app": meta(n),
        "meta-tenant": meta(n + 100, slug="acme"),
        "hubspot-events": hubspot_events(n),
        "hubspot-workflow": hubspot_workflow(n),
        "salesforce-app": salesforce(n),
        "salesforce-tenant": salesforce(n + 100, slug="acme"),
        "google-app": google(n),
        "google-tenant": google(n + 100, slug="acme"),
        "zapier": zapier(n),
        "form-signed": form_signed(n),
        "form-public": form_public(n),
        "direct": direct(n, key),
    }


SOURCES = list(all_sources(0, "key"))
