"""`LEADWIRE_TELEPHONY` picks the provider the API and the workers register."""

from __future__ import annotations

import dataclasses

from pydantic import SecretStr

from leadwire.platform.state import AppState
from leadwire.telephony import service
from leadwire.telephony.providers import build_provider, provider_of
from leadwire.telephony.providers.simulated import SimulatedCarrier
from leadwire.telephony.providers.twilio import TwilioProvider


def test_twilio_when_configured(state: AppState) -> None:
    settings = state.settings.model_copy(
        update={
            "telephony": "twilio",
            "twilio_account_sid": "AC" + "a" * 32,
            "twilio_auth_token": SecretStr("t" * 32),
        }
    )
    provider = build_provider(dataclasses.replace(state, settings=settings, services={}))
    assert isinstance(provider, TwilioProvider)


def test_the_simulated_carrier_by_default_registered_once(state: AppState) -> None:
    fresh = dataclasses.replace(state, services={})
    service.install(fresh)
    service.install(fresh)
    assert isinstance(provider_of(fresh), SimulatedCarrier)
    assert provider_of(fresh) is fresh.services["telephony"]
    assert len(fresh.services["settings_validators"]) == 1
