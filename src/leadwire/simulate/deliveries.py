"""Each simulated lead as the HTTP delivery its source really sends, signed with that source's
real scheme (integrations.md sections 1-5), so the simulation exercises the same verification
a production delivery does."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from leadwire.simulate.population import CONSENT_TEXT, SimLead


@dataclass(frozen=True)
class TenantCreds:
    slug: str
    api_key: str
    business_name: str
    meta_page_id: str
    meta_app_secret: str
    hubspot_portal_id: int
    hubspot_client_secret: str
    salesforce_org_id: str
    google_key: str
    zapier_secret: str
    form_secret: str


@dataclass(frozen=True)
class Delivery:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _consent(lead: SimLead, seller: str) -> dict[str, Any] | None:
    if not lead.consent:
        return None
    return {
        "granted": True,
        "text": CONSENT_TEXT.format(seller=seller),
        "timestamp": dt.datetime.now(dt.UTC).isoformat(),
        "ip": "203.0.113.7",
        "user_agent": "Mozilla/5.0 (simulated)",
        "page_url": "https://example.com/quote",
    }


def _generic_body(lead: SimLead, seller: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "external_id": lead.external_id,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "phone": lead.phone,
        "email": lead.email,
        "state": lead.state,
        "message": lead.message,
        "campaign_id": f"sim_{lead.source}",
    }
    consent = _consent(lead, seller)
    if consent:
        body["consent"] = consent
    return body


def _std_webhook_headers(secret: str, msg_id: str, body: bytes) -> dict[str, str]:
    """Standard Webhooks v1 signature (integrations.md 5.3): HMAC-SHA256 over id.timestamp.body
    with the base64-decoded key (a `whsec_` prefix is stripped)."""
    ts = str(int(time.time()))
    key = secret.removeprefix("whsec_")
    try:
        raw_key = base64.b64decode(key, validate=True)
    except ValueError:
        raw_key = key.encode()
    mac = hmac.new(raw_key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": ts,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def delivery(lead: SimLead, creds: TenantCreds, *, public_url: str) -> Delivery:
    seller = creds.business_name
    if lead.source == "meta":
        body = json.dumps(
            {
                "object": "page",
                "entry": [
                    {
                        "id": creds.meta_page_id,
                        "time": int(time.time()),
                        "changes": [
                            {
                                "field": "leadgen",
                                "value": {
                                    "leadgen_id": f"9{lead.index:014d}",
                                    "page_id": creds.meta_page_id,
                                    "form_id": "4000000000001",
                                    "ad_id": "6000000000001",
                                    "adgroup_id": "6000000000001",
                                    "created_time": int(time.time()),
                                },
                            }
                        ],
                    }
                ],
            },
            separators=(",", ":"),
        ).encode()
        sig = "sha256=" + hmac.new(creds.meta_app_secret.encode(), body, hashlib.sha256).hexdigest()
        return Delivery(
            "POST",
            f"/v1/webhooks/meta/{creds.slug}",
            {"Content-Type": "application/json", "X-Hub-Signature-256": sig},
            body,
        )
    if lead.source == "hubspot":
        path = f"/v1/webhooks/hubspot/{creds.slug}"
        body = json.dumps(
            [
                {
                    "eventId": 1_000_000 + lead.index,
                    "subscriptionId": 12345,
                    "portalId": creds.hubspot_portal_id,
                    "appId": 54321,
                    "occurredAt": int(time.time() * 1000),
                    "subscriptionType": "contact.creation",
                    "attemptNumber": 0,
                    "objectId": 500_000 + lead.index,
                    "changeSource": "CRM",
                    "changeFlag": "NEW",
                }
            ],
            separators=(",", ":"),
        ).encode()
        ts = str(int(time.time() * 1000))
        message = ("POST" + public_url + path).encode() + body + ts.encode()
        signature = base64.b64encode(
            hmac.new(creds.hubspot_client_secret.encode(), message, hashlib.sha256).digest()
        ).decode()
        return Delivery(
            "POST",
            path,
            {
                "Content-Type": "application/json",
                "X-HubSpot-Signature-v3": signature,
                "X-HubSpot-Request-Timestamp": ts,
            },
            body,
        )
    if lead.source == "salesforce":
        body = f"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>{creds.salesforce_org_id}</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://sim.my.salesforce.com/services/Soap/c/66.0/{creds.salesforce_org_id[:15]}</EnterpriseUrl>
   <PartnerUrl>https://sim.my.salesforce.com/services/Soap/u/66.0/{creds.salesforce_org_id[:15]}</PartnerUrl>
   <Notification>
    <Id>04l{lead.index:012d}AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q{lead.index:012d}EAA</sf:Id>
     <sf:FirstName>{escape(lead.first_name)}</sf:FirstName>
     <sf:LastName>{escape(lead.last_name)}</sf:LastName>
     <sf:Phone>{escape(lead.phone)}</sf:Phone>
     <sf:Email>{escape(lead.email)}</sf:Email>
     <sf:State>{lead.state}</sf:State>
     <sf:Description>{escape(lead.message)}</sf:Description>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
""".encode()
        return Delivery(
            "POST",
            f"/v1/webhooks/salesforce/{creds.slug}",
            {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            body,
        )
    if lead.source == "google-ads":
        columns = [
            {"column_id": "FIRST_NAME", "string_value": lead.first_name},
            {"column_id": "LAST_NAME", "string_value": lead.last_name},
            {"column_id": "PHONE_NUMBER", "string_value": lead.phone},
            {"column_id": "EMAIL", "string_value": lead.email},
            {"column_id": "REGION", "string_value": lead.state},
            {"column_id": "SERVICE", "string_value": lead.message},
        ]
        body = json.dumps(
            {
                "lead_id": f"sim-gads-{lead.index}",
                "user_column_data": columns,
                "api_version": "1.0",
                "form_id": 18698608977,
                "campaign_id": 991214827,
                "google_key": creds.google_key,
                "is_test": False,
            }
        ).encode()
        return Delivery(
            "POST",
            f"/v1/webhooks/google-ads/{creds.slug}",
            {"Content-Type": "application/json"},
            body,
        )
    generic = json.dumps(_generic_body(lead, seller)).encode()
    if lead.source == "zapier":
        return Delivery(
            "POST",
            f"/v1/webhooks/zapier/{creds.slug}",
            {"Content-Type": "application/json", "Authorization": f"Bearer {creds.zapier_secret}"},
            generic,
        )
    if lead.source == "form":
        headers = {"Content-Type": "application/json"}
        headers.update(_std_webhook_headers(creds.form_secret, f"msg_sim_{lead.index}", generic))
        return Delivery("POST", f"/v1/webhooks/form/{creds.slug}", headers, generic)
    return Delivery(
        "POST",
        "/v1/leads",
        {"Content-Type": "application/json", "Authorization": f"Bearer {creds.api_key}"},
        generic,
    )


def graph_answer(lead: SimLead, seller: str) -> dict[str, Any]:
    """What the fake Meta Graph API answers for this lead's leadgen id (integrations.md 1.6)."""
    fields = [
        {"name": "full_name", "values": [f"{lead.first_name} {lead.last_name}"]},
        {"name": "email", "values": [lead.email]},
        {"name": "phone_number", "values": [lead.phone]},
        {"name": "state", "values": [lead.state]},
        {"name": "what_do_you_need", "values": [lead.message]},
    ]
    answer: dict[str, Any] = {
        "id": f"9{lead.index:014d}",
        "created_time": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S+0000"),
        "form_id": "4000000000001",
        "field_data": fields,
    }
    if lead.consent:
        answer["custom_disclaimer_responses"] = [{"checkbox_key": "ai_calls", "is_checked": "1"}]
    return answer


def hubspot_answer(lead: SimLead) -> dict[str, Any]:
    """What the fake HubSpot CRM answers for this lead's contact id."""
    return {
        "id": str(500_000 + lead.index),
        "properties": {
            "firstname": lead.first_name,
            "lastname": lead.last_name,
            "phone": lead.phone,
            "email": lead.email,
            "state": lead.state,
            "message": lead.message,
        },
        "archived": False,
    }
