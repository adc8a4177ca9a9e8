"""Salesforce Outbound Messages: SOAP 1.1 `notifications` (integrations.md section 3).

Authentication (Salesforce signs nothing, section 3.3). `verify` checks, in order:

1. the tenant has a configured `organization_id` (else nothing can be checked: 401);
2. the body is a well-formed outbound-messaging envelope (parsed with defusedxml: no DTDs, no
   entities, no external references) carrying an `OrganizationId`;
3. that `OrganizationId` is the tenant's: ids come as 15 case-sensitive characters or 18
   (the 15 plus a case checksum), so the first 15 characters are compared exactly;
4. when the tenant lists `allowed_networks` (Salesforce's published ranges, CIDR), the sender's
   address is inside one of them.

An organization id is not a secret, so 1-3 alone only prove "a message that names this org".
Tenants should use the tenant-scoped URL (`/v1/webhooks/salesforce/{tenant_slug}`, which is not
published anywhere), set `allowed_networks`, and, where the TLS terminator can, require
Salesforce's client certificate. The delivery's `SessionId` (an API session, a credential) is
never copied into a lead.

Payload: `Notification` 1..100 per message; each is one lead whose natural key is
`salesforce:<Notification Id>`; sObject fields are mapped by name (`Phone`, `MobilePhone`,
`Email`, `FirstName`, `LastName`, `Name`, `PostalCode`/`MailingPostalCode`, `State`/
`MailingState`, `Description`...), the record `Id` is the external id, everything else is a
custom field. `xsi:nil` fields are absent.

Answer: `ack_envelope()` for anything stored (duplicates and rejected leads included);
`soap_fault()` only for failures Salesforce should retry.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape

import defusedxml
import defusedxml.ElementTree as DefusedET
from pydantic import JsonValue

from leadwire.leads.adapters.base import Acknowledgement, InboundRequest
from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials
from leadwire.leads.adapters.fields import map_fields, take_urgency
from leadwire.leads.canonical import InboundLead
from leadwire.platform.errors import (
    BadRequest,
    BadSignature,
    InvalidPayload,
    LeadwireError,
    UnsupportedMediaType,
)
from leadwire.tenants.source_keys import organization_key

__all__ = [
    "ADAPTER",
    "SalesforceAdapter",
    "ack_envelope",
    "organization_key",
    "soap_fault",
]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_NS = {"soapenv": SOAP_ENV, "om": OUTBOUND}
_XML_TYPES = frozenset({"text/xml", "application/xml", "application/soap+xml"})

_ACK = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
 <soapenv:Body>
  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">
   <Ack>true</Ack>
  </notificationsResponse>
 </soapenv:Body>
</soapenv:Envelope>
"""


def ack_envelope() -> bytes:
    """The SOAP body acknowledging every notification of a message (`Ack` true)."""
    return _ACK


def soap_fault(message: str, *, client_error: bool = False) -> bytes:
    """A SOAP 1.1 fault: `soapenv:Client` for the sender's mistakes, `soapenv:Server` for
    ours. Salesforce keeps any message not acknowledged and retries it for 24 hours."""
    code = "soapenv:Client" if client_error else "soapenv:Server"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}">\n'
        " <soapenv:Body>\n"
        "  <soapenv:Fault>\n"
        f"   <faultcode>{code}</faultcode>\n"
        f"   <faultstring>{escape(message)}</faultstring>\n"
        "  </soapenv:Fault>\n"
        " </soapenv:Body>\n"
        "</soapenv:Envelope>\n"
    ).encode()


@dataclass(frozen=True, slots=True)
class _Notification:
    id: str | None
    sobject_type: str | None
    fields: dict[str, str]
    has_sobject: bool


@dataclass(frozen=True, slots=True)
class _Message:
    organization_id: str | None
    action_id: str | None
    notifications: list[_Notification]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _read(request: InboundRequest) -> _Message:
    media_type = request.media_type
    if media_type is not None and media_type not in _XML_TYPES:
        raise UnsupportedMediaType(f"expected text/xml, got {media_type}")
    if not request.body.strip():
        raise BadRequest("body is empty")
    try:
        root = DefusedET.fromstring(request.body, forbid_dtd=True)
    except (ET.ParseError, defusedxml.DefusedXmlException, ValueError, UnicodeError) as exc:
        raise BadRequest("body is not well-formed XML") from exc
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise InvalidPayload("not a SOAP envelope", field="Envelope")
    node = root.find("soapenv:Body/om:notifications", _NS)
    if node is None:
        raise InvalidPayload("no outbound-messaging notifications", field="notifications")
    notifications: list[_Notification] = []
    for note in node.findall("om:Notification", _NS):
        sobject = note.find("om:sObject", _NS)
        fields: dict[str, str] = {}
        sobject_type = None
        if sobject is not None:
            sobject_type = (sobject.get(XSI_TYPE) or "").rsplit(":", 1)[-1] or None
            for child in sobject:
                if child.get(XSI_NIL) == "true" or not isinstance(child.tag, str):
                    continue
                text = (child.text or "").strip()
                if text:
                    fields.setdefault(_local(child.tag), text)
        notifications.append(
            _Notification(
                id=(note.findtext("om:Id", namespaces=_NS) or "").strip() or None,
                sobject_type=sobject_type,
                fields=fields,
                has_sobject=sobject is not None,
            )
        )
    return _Message(
        organization_id=(node.findtext("om:OrganizationId", namespaces=_NS) or "").strip() or None,
        action_id=(node.findtext("om:ActionId", namespaces=_NS) or "").strip() or None,
        notifications=notifications,
    )


def _valid_org_id(value: str | None) -> bool:
    return value is not None and len(value) in (15, 18) and value.isascii() and value.isalnum()


class SalesforceAdapter:
    source = "salesforce"
    settings_key = "salesforce"
    app_level = True
    tenant_hint_kind = "organization_id"
    platform_signed = False

    def tenant_hints(self, request: InboundRequest) -> list[str]:
        """The message's organization id in its 15-character form (`organization_key`): look
        tenants up by `organization_key(settings.sources.salesforce.organization_id)`."""
        try:
            org = _read(request).organization_id
        except LeadwireError:
            return []
        return [organization_key(org)] if _valid_org_id(org) and org else []

    def verify(
        self,
        request: InboundRequest,
        *,
        credentials: SourceCredentials | None,
        platform: PlatformSecrets,
        now: datetime | None = None,
    ) -> None:
        configured = credentials.organization_id if credentials else None
        if not configured:
            raise BadSignature("no Salesforce organization id is configured")
        try:
            message = _read(request)
        except LeadwireError as exc:
            raise BadSignature("not a Salesforce outbound message") from exc
        org = message.organization_id
        if not _valid_org_id(org) or org is None:
            raise BadSignature("the message carries no valid OrganizationId")
        if organization_key(org) != organization_key(configured):
            raise BadSignature("OrganizationId is not this tenant's organization")
        if credentials is not None and credentials.allowed_networks:
            try:
                address = ipaddress.ip_address(request.client_ip or "")
            except ValueError as exc:
                raise BadSignature("sender address is unknown") from exc
            if not any(address in network for network in credentials.allowed_networks):
                raise BadSignature("sender address is outside the allowed networks")

    def parse(self, request: InboundRequest) -> list[InboundLead]:
        message = _read(request)
        if not message.organization_id:
            raise InvalidPayload("is required", field="OrganizationId")
        org_key = organization_key(message.organization_id)
        leads: list[InboundLead] = []
        for i, note in enumerate(message.notifications):
            if note.id is None:
                raise InvalidPayload("is required", field=f"Notification[{i}].Id")
            if not note.has_sobject:
                raise InvalidPayload("is required", field=f"Notification[{i}].sObject")
            record_id = note.fields.get("Id")
            mapped = map_fields({k: v for k, v in note.fields.items() if k != "Id"})
            urgency = take_urgency(mapped)
            fields = mapped.fields
            raw: dict[str, JsonValue] = {
                "organization_id": message.organization_id,
                "action_id": message.action_id,
                "notification_id": note.id,
                "sobject_type": note.sobject_type,
                "fields": dict(note.fields),
            }
            leads.append(
                InboundLead(
                    source=self.source,
                    natural_key=f"salesforce:{note.id}",
                    external_id=record_id,
                    name=fields.get("name"),
                    first_name=fields.get("first_name"),
                    last_name=fields.get("last_name"),
                    phone=fields.get("phone"),
                    email=fields.get("email"),
                    service=fields.get("service"),
                    urgency=urgency,
                    postal_code=fields.get("postal_code"),
                    state=fields.get("state"),
                    campaign_id=fields.get("campaign_id"),
                    message=fields.get("message"),
                    custom_fields=mapped.custom,
                    tenant_hint=org_key,
                    raw=raw,
                )
            )
        return leads

    def acknowledgement(self) -> Acknowledgement | None:
        return Acknowledgement(status_code=200, media_type="text/xml", body=ack_envelope())

    def error_response(self, error: LeadwireError) -> Acknowledgement | None:
        return Acknowledgement(
            status_code=error.status_code,
            media_type="text/xml",
            body=soap_fault(error.message, client_error=error.status_code < 500),
        )


ADAPTER = SalesforceAdapter()
