import defusedxml.ElementTree as DefusedET
import pytest

from leadwire.leads.adapters.salesforce import ADAPTER, ack_envelope, organization_key, soap_fault
from leadwire.platform.errors import (
    BadRequest,
    BadSignature,
    InvalidPayload,
    RateLimited,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from tests.leads.helpers import NO_PLATFORM, creds, request

# The outbound message of integrations.md 3.1.
SAMPLE = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:xsd="http://www.w3.org/2001/XMLSchema"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D000000000001EAA</OrganizationId>
   <ActionId>04k000000000001AAA</ActionId>
   <SessionId xsi:nil="true"/>
   <EnterpriseUrl>https://acme.my.salesforce.com/services/Soap/c/66.0/00D000000000001</EnterpriseUrl>
   <PartnerUrl>https://acme.my.salesforce.com/services/Soap/u/66.0/00D000000000001</PartnerUrl>
   <Notification>
    <Id>04l000000000001AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q000000000001EAA</sf:Id>
     <sf:FirstName>Ada</sf:FirstName>
     <sf:Phone>+14155550100</sf:Phone>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
"""

TWO = b"""<?xml version="1.0" encoding="UTF-8"?>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
                  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
 <soapenv:Body>
  <notifications xmlns="http://soap.sforce.com/2005/09/outbound">
   <OrganizationId>00D000000000062EAA</OrganizationId>
   <ActionId>04k000000000002AAA</ActionId>
   <SessionId>00D000000000062!SECRET.SESSION</SessionId>
   <Notification>
    <Id>04l000000000010AAA</Id>
    <sObject xsi:type="sf:Lead" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>00Q000000000010EAA</sf:Id>
     <sf:FirstName>Grace</sf:FirstName>
     <sf:LastName>Hopper</sf:LastName>
     <sf:Email>GRACE@example.com</sf:Email>
     <sf:MobilePhone>(512) 867-5309</sf:MobilePhone>
     <sf:Phone xsi:nil="true"/>
     <sf:PostalCode>78701</sf:PostalCode>
     <sf:State>TX</sf:State>
     <sf:Description>No AC since this morning</sf:Description>
     <sf:Service__c>HVAC</sf:Service__c>
     <sf:Company>Navy</sf:Company>
    </sObject>
   </Notification>
   <Notification>
    <Id>04l000000000011AAA</Id>
    <sObject xsi:type="sf:Contact" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">
     <sf:Id>003000000000011AAA</sf:Id>
     <sf:Name>Alan Turing</sf:Name>
     <sf:Phone>+442079460958</sf:Phone>
     <sf:MailingPostalCode>02134</sf:MailingPostalCode>
     <sf:MailingState>Massachusetts</sf:MailingState>
    </sObject>
   </Notification>
  </notifications>
 </soapenv:Body>
</soapenv:Envelope>
"""


def xml(body: bytes, **kwargs):
    return request(body, content_type="text/xml; charset=utf-8", **kwargs)


# --- verify ------------------------------------------------------------------------------------
@pytest.mark.parametrize("configured", ["00D000000000001EAA", "00D000000000001"])
def test_verify_accepts_the_tenant_organization(configured):
    ADAPTER.verify(xml(SAMPLE), credentials=creds(organization_id=configured), platform=NO_PLATFORM)


def test_one_changed_byte_in_the_organization_fails():
    tampered = SAMPLE.replace(b"00D000000000001EAA", b"00D000000000002EAA")
    with pytest.raises(BadSignature):
        ADAPTER.verify(
            xml(tampered),
            credentials=creds(organization_id="00D000000000001EAA"),
            platform=NO_PLATFORM,
        )


def test_organization_ids_are_case_sensitive():
    with pytest.raises(BadSignature):
        ADAPTER.verify(
            xml(SAMPLE), credentials=creds(organization_id="00d000000000001"), platform=NO_PLATFORM
        )


@pytest.mark.parametrize("credentials", [None, creds(), creds(portal_id=1)])
def test_unconfigured_tenant_fails(credentials):
    with pytest.raises(BadSignature):
        ADAPTER.verify(xml(SAMPLE), credentials=credentials, platform=NO_PLATFORM)


def test_allowed_networks():
    tenant = creds(organization_id="00D000000000001EAA", allowed_networks=["13.108.0.0/14"])
    ADAPTER.verify(xml(SAMPLE, client_ip="13.110.1.2"), credentials=tenant, platform=NO_PLATFORM)
    for ip in ("203.0.113.7", None, "not-an-ip"):
        with pytest.raises(BadSignature):
            ADAPTER.verify(xml(SAMPLE, client_ip=ip), credentials=tenant, platform=NO_PLATFORM)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>00D000000000001EAA</OrganizationId><Notification><Id>&lol2;</Id>
<sObject/></Notification></notifications></soapenv:Body></soapenv:Envelope>"""

EXTERNAL = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY ext SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound">
<OrganizationId>00D000000000001EAA</OrganizationId><Notification><Id>&ext;</Id>
<sObject/></Notification></notifications></soapenv:Body></soapenv:Envelope>"""


@pytest.mark.parametrize("body", [BOMB, EXTERNAL])
def test_dtds_and_entities_are_refused(body):
    tenant = creds(organization_id="00D000000000001EAA")
    with pytest.raises(BadSignature):
        ADAPTER.verify(xml(body), credentials=tenant, platform=NO_PLATFORM)
    with pytest.raises(BadRequest):
        ADAPTER.parse(xml(body))
    assert ADAPTER.tenant_hints(xml(body)) == []


# --- parse -------------------------------------------------------------------------------------
def test_parse_sample():
    (lead,) = ADAPTER.parse(xml(SAMPLE))
    assert lead.source == "salesforce"
    assert lead.natural_key == "salesforce:04l000000000001AAA"
    assert lead.external_id == "00Q000000000001EAA"
    assert (lead.first_name, lead.phone) == ("Ada", "+14155550100")
    assert lead.tenant_hint == "00D000000000001"
    assert lead.raw["sobject_type"] == "Lead"
    assert lead.needs_fetch is False
    assert ADAPTER.tenant_hints(xml(SAMPLE)) == ["00D000000000001"]


def test_parse_several_notifications_and_field_names():
    first, second = ADAPTER.parse(xml(TWO))
    assert first.natural_key == "salesforce:04l000000000010AAA"
    assert (first.first_name, first.last_name) == ("Grace", "Hopper")
    assert first.phone == "(512) 867-5309"  # Phone is nil, MobilePhone is used
    assert first.email == "GRACE@example.com"
    assert (first.postal_code, first.state) == ("78701", "TX")
    assert first.message == "No AC since this morning"
    assert first.custom_fields == {"Service__c": "HVAC", "Company": "Navy"}
    assert second.natural_key == "salesforce:04l000000000011AAA"
    assert (second.name, second.phone) == ("Alan Turing", "+442079460958")
    assert (second.postal_code, second.state) == ("02134", "Massachusetts")
    assert second.raw["sobject_type"] == "Contact"


def test_session_id_is_never_copied():
    for lead in ADAPTER.parse(xml(TWO)):
        assert "SECRET" not in lead.model_dump_json()


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        (b"<a>", BadRequest, None),
        (b"", BadRequest, None),
        (b"<root/>", InvalidPayload, "Envelope"),
        (
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
            InvalidPayload,
            "notifications",
        ),
        (
            SAMPLE.replace(b"<OrganizationId>00D000000000001EAA</OrganizationId>", b""),
            InvalidPayload,
            "OrganizationId",
        ),
        (SAMPLE.replace(b"<Id>04l000000000001AAA</Id>", b""), InvalidPayload, "Notification[0].Id"),
    ],
)
def test_wrong_bodies(body, error, field):
    with pytest.raises(error) as caught:
        ADAPTER.parse(xml(body))
    if field is not None:
        assert caught.value.field == field


def test_wrong_content_type_is_415():
    with pytest.raises(UnsupportedMediaType):
        ADAPTER.parse(request(SAMPLE, content_type="application/json"))


# --- answers -----------------------------------------------------------------------------------
def test_ack_is_the_exact_envelope():
    assert ack_envelope() == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">\n'
        b" <soapenv:Body>\n"
        b'  <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">\n'
        b"   <Ack>true</Ack>\n"
        b"  </notificationsResponse>\n"
        b" </soapenv:Body>\n"
        b"</soapenv:Envelope>\n"
    )
    ack = ADAPTER.acknowledgement()
    assert ack is not None
    assert (ack.status_code, ack.media_type) == (200, "text/xml")
    root = DefusedET.fromstring(ack.body)
    assert root.findtext(".//{http://soap.sforce.com/2005/09/outbound}Ack") == "true"


def test_fault_is_well_formed_and_escaped():
    fault = DefusedET.fromstring(soap_fault("<db> & down", client_error=False))
    assert fault.findtext(".//faultcode") == "soapenv:Server"
    assert fault.findtext(".//faultstring") == "<db> & down"
    answer = ADAPTER.error_response(ServiceUnavailable("database down"))
    assert answer is not None
    assert answer.status_code == 503
    client = ADAPTER.error_response(RateLimited("slow down", retry_after_s=3))
    assert client is not None
    assert DefusedET.fromstring(client.body).findtext(".//faultcode") == "soapenv:Client"


def test_organization_key():
    assert organization_key("00D000000000062EAA") == organization_key("00D000000000062")
