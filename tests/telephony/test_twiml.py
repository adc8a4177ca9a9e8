import pytest
from defusedxml import ElementTree

from leadwire.telephony.twiml import (
    hangup_twiml,
    opening_disclosure,
    relay_twiml,
    speakable_number,
    transfer_twiml,
    voicemail_twiml,
)

BASE = "https://leadwire.example"
AGENT = {
    "business_name": "Acme HVAC",
    "script": "Qualify the lead.",
    "transfer_number": "+15125550101",
    "voicemail": "We got your request for a furnace repair.",
}
HEAD = '<?xml version="1.0" encoding="UTF-8"?>'


def test_relay_golden() -> None:
    twiml = relay_twiml(
        call_id="42",
        public_base_url=BASE,
        agent=AGENT,
        callback_number="+15125550100",
        service="HVAC Emergency",
    )
    assert twiml == (
        HEAD + "<Response>"
        '<Connect action="https://leadwire.example/v1/telephony/twilio/relay-ended/42">'
        '<ConversationRelay dtmfDetection="true" hints="Acme HVAC,HVAC Emergency" '
        'interruptible="any" language="en-US" '
        'url="wss://leadwire.example/v1/telephony/twilio/relay/42" '
        'welcomeGreeting="Hello, this is Acme HVAC, calling with an automated AI assistant '
        "about your request for HVAC Emergency. To stop our calls, say stop or press 9 at any "
        'time. You can reach Acme HVAC at 5 1 2, 5 5 5, 0 1 0 0." '
        'welcomeGreetingInterruptible="dtmf">'
        '<Parameter name="call_id" value="42" />'
        "</ConversationRelay></Connect></Response>"
    )


def test_relay_voice_settings_golden() -> None:
    agent = {
        **AGENT,
        "language": "es-US",
        "voice": "v1",
        "tts_provider": "ElevenLabs",
        "transcription_provider": "Deepgram",
        "speech_model": "nova-3",
    }
    twiml = relay_twiml(
        call_id="7", public_base_url=BASE, agent=agent, callback_number="+15125550100"
    )
    assert twiml == (
        HEAD + "<Response>"
        '<Connect action="https://leadwire.example/v1/telephony/twilio/relay-ended/7">'
        '<ConversationRelay dtmfDetection="true" hints="Acme HVAC" interruptible="any" '
        'language="es-US" speechModel="nova-3" transcriptionProvider="Deepgram" '
        'ttsProvider="ElevenLabs" url="wss://leadwire.example/v1/telephony/twilio/relay/7" '
        'voice="v1" '
        'welcomeGreeting="Hello, this is Acme HVAC, calling with an automated AI assistant. '
        "To stop our calls, say stop or press 9 at any time. "
        'You can reach Acme HVAC at 5 1 2, 5 5 5, 0 1 0 0." '
        'welcomeGreetingInterruptible="dtmf">'
        '<Parameter name="call_id" value="7" />'
        "</ConversationRelay></Connect></Response>"
    )


def test_the_disclosures_come_in_the_required_order() -> None:
    greeting = opening_disclosure(agent=AGENT, callback_number="+15125550100", service="repair")
    # compliance.md §1.7: seller -> AI voice -> purpose -> opt-out -> callback number
    markers = ("Acme HVAC", "automated AI", "request for repair", "say stop or press 9", "5 1 2")
    positions = [greeting.index(marker) for marker in markers]
    assert positions == sorted(positions)
    assert positions[0] < 20  # the identity comes first


def test_voicemail_golden() -> None:
    assert voicemail_twiml(agent=AGENT, callback_number="+15125550100") == (
        HEAD + '<Response><Say language="en-US">'
        "Hello, this is a message from Acme HVAC, left by an automated AI assistant. "
        "We got your request for a furnace repair. "
        "To call us back, dial 5 1 2, 5 5 5, 0 1 0 0. "
        "To stop calls from Acme HVAC, call 5 1 2, 5 5 5, 0 1 0 0 "
        "and ask to be put on our do-not-call list."
        "</Say><Hangup /></Response>"
    )


def test_voicemail_with_an_opt_out_line_and_a_voice() -> None:
    agent = {**AGENT, "opt_out_number": "+18005550199", "say_voice": "Polly.Joanna"}
    twiml = voicemail_twiml(agent=agent, callback_number="+15125550100")
    assert twiml.startswith(HEAD + '<Response><Say language="en-US" voice="Polly.Joanna">')
    assert "To stop calls from Acme HVAC, call 8 0 0, 5 5 5, 0 1 9 9 " in twiml
    assert twiml.endswith("</Say><Hangup /></Response>")


def test_transfer_golden() -> None:
    assert transfer_twiml(number="+15125550101", caller_id="+15125550100") == (
        HEAD + '<Response><Dial callerId="+15125550100" timeout="30">+15125550101</Dial></Response>'
    )


def test_hangup_golden() -> None:
    assert hangup_twiml() == HEAD + "<Response><Hangup /></Response>"


def test_tenant_text_is_escaped() -> None:
    agent = {**AGENT, "business_name": 'Bob & "Sons" <HVAC>', "voicemail": "Call <now> & save"}
    relay = ElementTree.fromstring(
        relay_twiml(call_id="1", public_base_url=BASE, agent=agent, callback_number="+15125550100")
    )
    greeting = relay.find("Connect/ConversationRelay").get("welcomeGreeting")
    assert greeting.startswith('Hello, this is Bob & "Sons" <HVAC>, calling')
    voicemail = ElementTree.fromstring(voicemail_twiml(agent=agent, callback_number="+15125550100"))
    assert "Call <now> & save" in voicemail.find("Say").text


def test_a_call_without_a_business_name_cannot_be_identified() -> None:
    with pytest.raises(ValueError, match="business_name"):
        relay_twiml(
            call_id="1",
            public_base_url=BASE,
            agent={"business_name": " "},
            callback_number="+15125550100",
        )
    with pytest.raises(ValueError, match="business_name"):
        voicemail_twiml(agent={}, callback_number="+15125550100")


@pytest.mark.parametrize(
    ("number", "spoken"),
    [
        ("+15125550100", "5 1 2, 5 5 5, 0 1 0 0"),
        ("5125550100", "5 1 2, 5 5 5, 0 1 0 0"),
        ("+442071838750", "4 4 2 0 7 1 8 3 8 7 5 0"),
    ],
)
def test_speakable_number(number: str, spoken: str) -> None:
    assert speakable_number(number) == spoken
