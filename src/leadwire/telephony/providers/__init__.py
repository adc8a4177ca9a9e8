"""Telephony providers behind one protocol: Twilio, and the simulated carrier.

`install(state)` registers the provider `LEADWIRE_TELEPHONY` names as
``state.services["telephony"]`` (the API's lifespan and the worker's startup call it);
`provider_of(state)` is how everything else reaches it.
"""

from __future__ import annotations

import hashlib
from typing import cast

from leadwire.platform.state import AppState
from leadwire.telephony.providers.base import TelephonyProvider

SERVICE = "telephony"


def simulated_account_sid(state: AppState) -> str:
    settings = state.settings
    if settings.twilio_account_sid:
        return settings.twilio_account_sid
    digest = hashlib.sha256(f"simulated:{settings.simulator_seed}".encode()).hexdigest()
    return "AC" + digest[:32]


def build_provider(state: AppState) -> TelephonyProvider:
    settings = state.settings
    if settings.telephony == "twilio":
        from leadwire.telephony.providers.twilio import TwilioProvider

        assert settings.twilio_account_sid and settings.twilio_auth_token
        return TwilioProvider(
            account_sid=settings.twilio_account_sid,
            auth_token=settings.twilio_auth_token.get_secret_value(),
            http=state.http,
            api_base=settings.twilio_api_base,
        )
    from leadwire.telephony.providers.simulated import SimulatedCarrier

    return SimulatedCarrier(
        redis=state.redis,
        http=None,
        signing_token=settings.twilio_signing_token,
        account_sid=simulated_account_sid(state),
        seed=settings.simulator_seed,
        time_scale=settings.simulator_time_scale,
    )


def install(state: AppState) -> TelephonyProvider:
    """Register the configured provider (once) and return it."""
    if SERVICE not in state.services:
        provider = build_provider(state)
        state.services[SERVICE] = provider
        close = getattr(provider, "close", None)  # the simulated carrier's own session
        if close is not None:
            state.on_close.append(close)
    return cast(TelephonyProvider, state.services[SERVICE])


def provider_of(state: AppState) -> TelephonyProvider:
    return install(state)


def account_of(state: AppState) -> str:
    """The account whose calls per second the dialer paces."""
    if state.settings.telephony == "twilio" and state.settings.twilio_account_sid:
        return state.settings.twilio_account_sid
    return simulated_account_sid(state)
