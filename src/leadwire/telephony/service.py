"""Telephony services: Twilio's callbacks, tenant reads of calls, hang-ups, set-up.

Callback services take the raw form (as `[(name, value), ...]`), store it, fold it into the
call's state machine and, on the final status, finalize the call (`calls.finalize`). What must
reach the provider (a voicemail drop, a hang-up) is returned as `ProviderActions` and run by
the route after the transaction commits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers
from sqlalchemy.ext.asyncio import AsyncSession

from leadwire.leads import repository as leads_repo
from leadwire.leads.models import LeadStatus
from leadwire.platform.db import session_scope
from leadwire.platform.errors import ExternalServiceError, InvalidPayload, NotFound
from leadwire.platform.state import AppState
from leadwire.telephony import calls, providers, repository, twiml
from leadwire.telephony.call_status import AnsweredBy, CallStatus
from leadwire.telephony.callbacks import CALL_SID, ParsedCallback, parse_amd_callback
from leadwire.telephony.callbacks import parse_status_callback as parse_status
from leadwire.telephony.metrics import dialer_metrics
from leadwire.telephony.models import Call
from leadwire.telephony.outcomes import MachineAction, decide_machine
from leadwire.telephony.providers import provider_of
from leadwire.tenants import repository as tenants_repo
from leadwire.tenants.errors import InvalidSettings
from leadwire.tenants.service import effective_settings

log = logging.getLogger("leadwire.telephony.service")

Form = Sequence[tuple[str, str]]
SettingsValidator = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ProviderActions:
    """Provider calls to make once the callback's transaction has committed."""

    hangup_sid: str | None = None
    voicemail: tuple[uuid.UUID, str, str] | None = None  # (call id, CallSid, TwiML)


@dataclass(frozen=True, slots=True)
class CallbackResult:
    actions: ProviderActions
    error: InvalidPayload | None = None


def _pairs(form: Form) -> list[list[str]]:
    return [[name, value] for name, value in form]


def _sid_of(form: Form) -> str | None:
    sid = dict(form).get("CallSid", "")
    return sid if CALL_SID.match(sid) else None


async def store_rejected(session: AsyncSession, *, kind: str, form: Form) -> None:
    """A callback whose signature failed: kept raw, trusted for nothing, linked to nothing."""
    await repository.add_event(
        session,
        call_id=None,
        tenant_id=None,
        provider_call_id=None,
        kind=kind,
        params=_pairs(form),
        signature_valid=False,
        effect="rejected",
    )


async def record_callback(
    session: AsyncSession, *, state: AppState, kind: str, form: Form, now: dt.datetime
) -> CallbackResult:
    """A signed status (`kind="status"`) or AMD (`kind="amd"`) callback."""
    metrics = dialer_metrics(state)
    try:
        parsed: ParsedCallback = (
            parse_amd_callback(dict(form)) if kind == "amd" else parse_status(dict(form))
        )
    except InvalidPayload as exc:
        await repository.add_event(
            session, call_id=None, tenant_id=None, provider_call_id=_sid_of(form), kind=kind,
            params=_pairs(form), signature_valid=True, effect="invalid",
        )  # fmt: skip
        metrics.callbacks.labels(kind, "invalid").inc()
        return CallbackResult(ProviderActions(), error=exc)
    call = await _locked_call(session, parsed.call_sid)
    if call is None:
        # Not stored yet (the dialer is about to), or not ours: kept and applied if it becomes ours.
        await repository.add_event(
            session, call_id=None, tenant_id=None, provider_call_id=parsed.call_sid, kind=kind,
            params=_pairs(form), signature_valid=True,
            sequence_number=parsed.event.sequence_number, effect="unlinked",
        )  # fmt: skip
        metrics.callbacks.labels(kind, "unlinked").inc()
        return CallbackResult(ProviderActions())
    transition = await calls.apply_event(session, call=call, event=parsed.event, now=now)
    await repository.add_event(
        session, call_id=call.id, tenant_id=call.tenant_id, provider_call_id=parsed.call_sid,
        kind=kind, params=_pairs(form), signature_valid=True,
        sequence_number=parsed.event.sequence_number, effect=transition.effect.value,
    )  # fmt: skip
    metrics.callbacks.labels(kind, transition.effect.value).inc()
    if transition.became_final:
        await calls.finalize(session, state=state, call=call, now=now)
        return CallbackResult(ProviderActions())
    if kind == "amd" and parsed.event.answered_by is not None and not transition.state.is_final:
        return CallbackResult(await _machine_action(session, call=call))
    return CallbackResult(ProviderActions())


async def _locked_call(session: AsyncSession, sid: str) -> Call | None:
    """The call with this CallSid, row-locked. A call that has it stored needs nothing more:
    its row lock orders the callbacks. Only when none has it yet is the CallSid's advisory lock
    taken and the call read again, so that the callback and the dialer storing that CallSid
    (`calls.store_placed`, under the same lock) come one after the other: either the dialer
    stored it first and the callback applies to the call, or the callback is kept unlinked
    and the dialer applies it."""
    call = await repository.lock_call_by_sid(session, sid)
    if call is not None:
        return call
    await repository.lock_sid(session, sid)
    return await repository.lock_call_by_sid(session, sid)


async def _machine_action(session: AsyncSession, *, call: Call) -> ProviderActions:
    if call.provider_call_id is None or call.answered_by is None:
        return ProviderActions()
    answered_by = AnsweredBy(call.answered_by)
    if answered_by is not AnsweredBy.FAX and not answered_by.is_machine:
        return ProviderActions()  # a person (or AMD could not tell): the call goes on
    tenant = await tenants_repo.get_by_id(session, call.tenant_id)
    if tenant is None:
        return ProviderActions()
    settings = effective_settings(tenant)
    action = decide_machine(answered_by, settings=calls.outcome_settings(settings))
    if action is MachineAction.VOICEMAIL:
        try:
            message = twiml.voicemail_twiml(
                agent=settings.agent.model_dump(), callback_number=call.from_number
            )
        except ValueError:  # no business name to identify the caller: never leave a message
            return ProviderActions(hangup_sid=call.provider_call_id)
        call.voicemail_left = True
        return ProviderActions(voicemail=(call.id, call.provider_call_id, message))
    if action is MachineAction.HANGUP:
        return ProviderActions(hangup_sid=call.provider_call_id)
    return ProviderActions()


async def run_provider_actions(state: AppState, actions: ProviderActions) -> None:
    provider = provider_of(state)
    if actions.voicemail is not None:
        call_id, sid, message = actions.voicemail
        try:
            await provider.update_twiml(sid, twiml=message)
        except ExternalServiceError as exc:
            log.warning("voicemail drop failed", extra={"code": exc.provider_code})
            async with session_scope(state.sessions) as session:
                call = await repository.lock_call(session, call_id)
                if call is not None:
                    call.voicemail_left = False
    if actions.hangup_sid is not None:
        try:
            await provider.hangup(actions.hangup_sid)
        except ExternalServiceError as exc:
            log.warning("hang-up failed", extra={"code": exc.provider_code})


async def _call_for_url(
    session: AsyncSession, *, call_id: str, kind: str, form: Form, now: dt.datetime
) -> Call | None:
    """The call a voice or relay-ended URL names; adopts the signed CallSid if still unknown."""
    try:
        parsed_id = uuid.UUID(call_id)
    except ValueError:
        parsed_id = None
    call = await repository.lock_call(session, parsed_id) if parsed_id else None
    sid = _sid_of(form)
    if call is not None and call.provider_call_id is None and sid is not None:
        await repository.lock_sid(session, sid)
        if await repository.lock_call_by_sid(session, sid) is None:
            call.provider_call_id = sid
            call.placed_at = call.placed_at or now
            call.dial_lease_until = None
    await repository.add_event(
        session,
        call_id=call.id if call else None,
        tenant_id=call.tenant_id if call else None,
        provider_call_id=sid,
        kind=kind,
        params=_pairs(form),
        signature_valid=True,
    )
    return call


async def voice_twiml(
    session: AsyncSession, *, state: AppState, call_id: str, form: Form, now: dt.datetime
) -> str:
    """The TwiML for an answered call: the AI agent over ConversationRelay, or hang up."""
    call = await _call_for_url(session, call_id=call_id, kind="voice", form=form, now=now)
    if call is None:
        return twiml.hangup_twiml()
    try:
        event = parse_status(dict(form)).event
    except InvalidPayload:
        event = None
    if event is not None:
        transition = await calls.apply_event(session, call=call, event=event, now=now)
        if transition.became_final:
            await calls.finalize(session, state=state, call=call, now=now)
    if CallStatus(call.status).is_final:
        return twiml.hangup_twiml()
    lead = await leads_repo.get_lead(session, tenant_id=call.tenant_id, lead_id=call.lead_id)
    tenant = await tenants_repo.get_by_id(session, call.tenant_id)
    if lead is None or tenant is None or lead.status != LeadStatus.DIALING:
        return twiml.hangup_twiml()
    settings = effective_settings(tenant)
    try:
        return twiml.relay_twiml(
            call_id=str(call.id),
            public_base_url=state.settings.public_url,
            agent=settings.agent.model_dump(),
            callback_number=call.from_number,
            service=lead.service,
        )
    except ValueError:
        return twiml.hangup_twiml()


async def relay_ended_twiml(
    session: AsyncSession, *, state: AppState, call_id: str, form: Form, now: dt.datetime
) -> str:
    """What the call does after the AI session: the transfer recorded on it, or hang up."""
    call = await _call_for_url(session, call_id=call_id, kind="relay_ended", form=form, now=now)
    if call is None or call.transfer_to is None or CallStatus(call.status).is_final:
        return twiml.hangup_twiml()
    return twiml.transfer_twiml(number=call.transfer_to, caller_id=call.from_number)


# ---- reads ------------------------------------------------------------------------------------


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def call_view(call: Call) -> dict[str, Any]:
    """A call as the tenant API shows it (`GET /v1/calls/{id}`, a lead's `calls`)."""
    return {
        "id": str(call.id),
        "lead_id": str(call.lead_id),
        "attempt": call.attempt,
        "status": call.status,
        "provider_call_id": call.provider_call_id,
        "outcome": call.outcome,
        "outcome_reason": call.outcome_reason,
        "answered_by": call.answered_by,
        "from": call.from_number,
        "to": call.to_number,
        "duration_s": call.duration_s,
        "cost_usd": str(call.cost_usd) if call.cost_usd is not None else None,
        "voicemail_left": call.voicemail_left,
        "started_at": _iso(call.started_at),
        "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at),
        # What the AI conversation left (None until a ConversationRelay session ran).
        "transcript": call.transcript,
        "qualification": call.qualification,
        "ai": _ai_view(call),
    }


def _ai_view(call: Call) -> dict[str, Any] | None:
    if call.ai_outcome is None and call.ai_tokens is None:
        return None
    detail = call.ai_detail or {}
    return {
        "outcome": call.ai_outcome,
        "end_reason": call.ai_end_reason,
        "tokens": call.ai_tokens or 0,
        "cost_usd": str(call.ai_cost_usd) if call.ai_cost_usd is not None else "0",
        "usage": detail.get("usage"),
        "booking": detail.get("booking"),
        "transfer_to": call.transfer_to,
    }


async def get_call(session: AsyncSession, *, tenant_id: uuid.UUID, call_id: str) -> dict[str, Any]:
    try:
        parsed = uuid.UUID(call_id)
    except ValueError:
        raise NotFound(f"no call {call_id!r}") from None
    call = await repository.get_call(session, tenant_id=tenant_id, call_id=parsed)
    if call is None:
        raise NotFound(f"no call {call_id!r}")
    return call_view(call)


async def calls_for_lead(
    session: AsyncSession, *, tenant_id: uuid.UUID, lead_id: uuid.UUID
) -> list[dict[str, Any]]:
    """A lead's calls, oldest first, for the lead view's `calls`."""
    rows = await repository.calls_for_lead(session, tenant_id=tenant_id, lead_id=lead_id)
    return [call_view(call) for call in rows]


# ---- hang-ups and set-up -----------------------------------------------------------------------


async def hangup_active_calls(
    session: AsyncSession, *, state: AppState, tenant_id: uuid.UUID | None
) -> int:
    """End every live call (of one tenant, or all): emergency mode's `hangup_active`.

    The provider reports each end through the status callback, which finalizes the call; a
    call ended this way before it was answered comes back as `canceled` and its lead is tried
    again later (never dropped). Returns how many calls were asked to end.
    """
    provider = provider_of(state)
    live = await repository.live_calls(session, tenant_id=tenant_id)
    sids = [call.provider_call_id for call in live if call.provider_call_id]
    semaphore = asyncio.Semaphore(8)

    async def end(sid: str) -> bool:
        async with semaphore:
            try:
                await provider.hangup(sid)
            except ExternalServiceError as exc:
                log.warning("hang-up failed", extra={"code": exc.provider_code})
                return False
            return True

    results = await asyncio.gather(*(end(sid) for sid in sids))
    return sum(results)


def caller_id_validator(state: AppState) -> SettingsValidator:
    """Checks `caller_ids` in a settings patch: each must be a number the provider lets the
    tenant present (`TelephonyProvider.owns_number`); 422 naming `caller_ids` otherwise."""

    async def validate(patch: dict[str, Any]) -> None:
        numbers = patch.get("caller_ids")
        if not isinstance(numbers, list):
            return
        provider = provider_of(state)
        for index, raw in enumerate(numbers):
            if not isinstance(raw, str):
                continue  # the settings schema reports the shape
            try:
                parsed = phonenumbers.parse(raw, None)
            except phonenumbers.NumberParseException:
                continue
            e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
            if not await provider.owns_number(e164):
                raise InvalidSettings(
                    f"caller_ids[{index}] is not a number this account may present as caller ID",
                    field="caller_ids",
                    code="caller_id_not_owned",
                )

    return validate


def install(state: AppState) -> None:
    """Register the telephony provider and the caller-ID settings check on `state.services`."""
    providers.install(state)
    validators: list[SettingsValidator] = state.services.setdefault("settings_validators", [])
    if not any(
        getattr(v, "__qualname__", "").startswith("caller_id_validator") for v in validators
    ):
        validators.append(caller_id_validator(state))
