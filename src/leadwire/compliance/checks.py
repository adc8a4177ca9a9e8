"""The individual checks of the compliance gate, in reference section 0.1's order.

Each takes the gathered context and returns one `Check` (pass, defer, block or skipped) with
JSON evidence; `gate.decide` runs them all and combines the outcomes. The product choices they
encode are listed in `gate`'s docstring.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from leadwire.compliance.consent import CallPurpose, ConsentResult
from leadwire.compliance.decision import Check, Outcome, rfc3339
from leadwire.compliance.facts import DncHit, DncListKind, GateFacts, Hold, RndAnswer
from leadwire.compliance.locate import Candidate, Location
from leadwire.compliance.state_rules import RecordedMessageRule, RuleBook
from leadwire.compliance.windows import evaluate_window, next_open

DAY = dt.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class CheckContext:
    """Facts plus what is derived once for every check: location and consent result."""

    facts: GateFacts
    now: dt.datetime
    rules: RuleBook
    phone_ok: bool
    location: Location
    consent: ConsentResult

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return self.location.candidates

    def local_date(self, candidate: Candidate) -> dt.date:
        return self.now.astimezone(ZoneInfo(candidate.zone)).date()


def _skipped(name: str, why: str) -> Check:
    return Check(name, Outcome.SKIPPED, None, {"skipped_because": why})


# 1
def check_phone(facts: GateFacts) -> Check:
    phone = facts.phone
    evidence = {
        "valid": phone.valid,
        "number_type": phone.number_type,
        "region": phone.region,
        "area_code": phone.area_code,
    }
    if phone.e164 is None or not phone.valid:
        return Check("phone_number", Outcome.BLOCK, "invalid_phone", evidence)
    if phone.region != "US":
        return Check("phone_number", Outcome.BLOCK, "unsupported_region", evidence)
    if not phone.callable_type:
        return Check("phone_number", Outcome.BLOCK, "non_geographic", evidence)
    return Check("phone_number", Outcome.PASS, None, evidence)


# 2
def check_tenant(context: CheckContext) -> Check:
    tenant = context.facts.tenant
    evidence = {"enabled": tenant.enabled, "ai_voice_allowed": tenant.ai_voice_allowed}
    if not tenant.enabled:
        return Check("tenant", Outcome.BLOCK, "tenant_disabled", evidence)
    if not tenant.ai_voice_allowed:
        return Check("tenant", Outcome.BLOCK, "plan_excludes_ai_voice", evidence)
    return Check("tenant", Outcome.PASS, None, evidence)


# 3
def check_internal_dnc(context: CheckContext) -> Check:
    hits = [
        hit
        for hit in context.facts.dnc_hits
        if hit.list_kind in (DncListKind.TENANT, DncListKind.PLATFORM_OPTOUT)
    ]
    evidence = {"hits": [_hit_json(hit) for hit in hits]}
    if any(hit.list_kind is DncListKind.TENANT for hit in hits):
        return Check("internal_dnc", Outcome.BLOCK, "internal_dnc", evidence)
    if any(hit.list_kind is DncListKind.PLATFORM_OPTOUT for hit in hits):
        return Check("internal_dnc", Outcome.BLOCK, "platform_optout", evidence)
    return Check("internal_dnc", Outcome.PASS, None, evidence)


# 4
def check_consent(context: CheckContext) -> Check:
    result = context.consent
    outcome = Outcome.PASS if result.ok else Outcome.BLOCK
    return Check("consent", outcome, result.reason, dict(result.evidence))


# 5
def check_reassigned(context: CheckContext) -> Check:
    answer = context.facts.reassigned
    if answer is None:
        return _skipped("reassigned_number", "not_queried")
    evidence = {"answer": answer.value}
    if answer is RndAnswer.YES:
        return Check("reassigned_number", Outcome.BLOCK, "reassigned_number", evidence)
    if answer is RndAnswer.NO_DATA and context.facts.policy.rnd_no_data_blocks:
        return Check("reassigned_number", Outcome.BLOCK, "rnd_no_data", evidence)
    return Check("reassigned_number", Outcome.PASS, None, evidence)


# 6
def check_dnc_registry(context: CheckContext) -> Check:
    facts = context.facts
    max_age = facts.policy.registry_max_age_days
    registry = (DncListKind.NATIONAL, DncListKind.STATE)
    hits = [hit for hit in facts.dnc_hits if hit.list_kind in registry]
    sources = [source for source in facts.dnc_sources if source.list_kind in registry]
    stale = [
        source
        for source in sources
        if source.data_age_days is not None and source.data_age_days > max_age
    ]
    expected = sorted(
        {
            rule.state
            for candidate in context.candidates
            if (rule := context.rules.rule(candidate.state, context.local_date(candidate)))
            and rule.state_dnc
        }
    )
    consulted_states = {s.list_name.upper() for s in sources if s.list_kind is DncListKind.STATE}
    written_permission = (
        facts.policy.national_dnc_written_permission and context.consent.written_permission
    )
    evidence: dict[str, Any] = {
        "hits": [_hit_json(hit) for hit in hits],
        "lists": [
            {
                "kind": source.list_kind.value,
                "name": source.list_name,
                "data_age_days": source.data_age_days,
                "stale": source in stale,
            }
            for source in sources
        ],
        "registry_max_age_days": max_age,
        "stale_hits": [
            _hit_json(hit)
            for hit in hits
            if hit.data_age_days is not None and hit.data_age_days > max_age
        ],
        "national_registry_loaded": any(s.list_kind is DncListKind.NATIONAL for s in sources),
        "state_lists_expected": expected,
        "state_lists_missing": [state for state in expected if state not in consulted_states],
        "written_permission": written_permission,
    }
    state_hits = sorted(hit.list_name.upper() for hit in hits if hit.list_kind is DncListKind.STATE)
    if state_hits:
        return Check("dnc_registry", Outcome.BLOCK, f"state_dnc_{state_hits[0].lower()}", evidence)
    if any(hit.list_kind is DncListKind.NATIONAL for hit in hits) and not written_permission:
        return Check("dnc_registry", Outcome.BLOCK, "national_dnc", evidence)
    holding = [
        source
        for source in stale
        if not (source.list_kind is DncListKind.NATIONAL and written_permission)
    ]
    if holding:
        return Check("dnc_registry", Outcome.DEFER, "dnc_data_stale", evidence, clears_at=None)
    return Check("dnc_registry", Outcome.PASS, None, evidence)


# 7
def check_recorded_message(context: CheckContext) -> Check:
    name = "state_recorded_message"
    if context.facts.purpose is CallPurpose.INFORMATIONAL:
        return _skipped(name, "not_a_sales_call")
    if not context.candidates:
        return _skipped(name, "no_location")
    facts = context.facts
    findings: list[dict[str, Any]] = []
    failed: list[str] = []
    for candidate in context.candidates:
        rule = context.rules.rule(candidate.state, context.local_date(candidate))
        if rule is None or rule.recorded_message is RecordedMessageRule.OK:
            continue
        kind = rule.recorded_message
        allowed = (
            (kind is RecordedMessageRule.NEEDS_CONSENT and context.consent.written_permission)
            or (kind is RecordedMessageRule.NEEDS_EBR and facts.has_ebr)
            or (
                kind is RecordedMessageRule.NEEDS_EBR_NO_RECALL
                and facts.has_ebr
                and not facts.hung_up_on_prior_ai_call
            )
        )
        finding = {"state": rule.state, "rule": kind.value, "allowed": allowed}
        if finding not in findings:
            findings.append(finding)
        if not allowed and rule.state not in failed:
            failed.append(rule.state)
    evidence = {
        "states": findings,
        "has_ebr": facts.has_ebr,
        "hung_up_on_prior_ai_call": facts.hung_up_on_prior_ai_call,
    }
    if failed:
        reason = f"state_recorded_message_ban_{sorted(failed)[0].lower()}"
        return Check(name, Outcome.BLOCK, reason, evidence)
    return Check(name, Outcome.PASS, None, evidence)


# 8
def check_location(context: CheckContext) -> Check:
    if not context.phone_ok:
        return _skipped("location", "phone_number_failed")
    evidence = {
        **context.location.evidence,
        "candidates": [candidate.to_json() for candidate in context.candidates],
    }
    if not context.candidates:
        return Check("location", Outcome.BLOCK, "unknown_location", evidence)
    return Check("location", Outcome.PASS, None, evidence)


# 9
def check_window(context: CheckContext) -> Check:
    if not context.phone_ok or not context.candidates:
        return _skipped("calling_window", "no_location")
    facts = context.facts
    hours = facts.tenant.calling_hours
    margin = facts.policy.margin
    verdict = evaluate_window(
        context.candidates, context.now, rules=context.rules, hours=hours, margin=margin
    )
    evidence: dict[str, Any] = {
        "tenant_hours": hours.to_json(),
        "tenant_hours_clock": "callee_local",
        "margin_minutes": {"after_open": margin.after_open, "before_close": margin.before_close},
        "candidates": [candidate.to_json() for candidate in verdict.candidates],
    }
    if verdict.open:
        return Check("calling_window", Outcome.PASS, None, evidence)
    opens = next_open(
        context.candidates,
        context.rules,
        hours,
        context.now,
        margin=margin,
        horizon=facts.policy.search_horizon,
    )
    if opens is None:
        evidence["horizon_days"] = facts.policy.search_horizon.days
        return Check("calling_window", Outcome.BLOCK, "no_window_found", evidence)
    evidence["next_open"] = rfc3339(opens)
    return Check("calling_window", Outcome.DEFER, verdict.reason, evidence, clears_at=opens)


# 10
def check_cap(context: CheckContext) -> Check:
    if not context.phone_ok:
        return _skipped("cap_24h", "phone_number_failed")
    facts = context.facts
    caps: list[tuple[int, str | None]] = []
    for candidate in context.candidates:
        rule = context.rules.rule(candidate.state, context.local_date(candidate))
        if rule is not None and rule.cap_24h is not None:
            caps.append((rule.cap_24h, rule.state))
    if facts.tenant.max_attempts_per_number_24h is not None:
        caps.append((facts.tenant.max_attempts_per_number_24h, None))
    recent = sorted(a for a in facts.number_attempts if context.now - DAY < a <= context.now)
    evidence: dict[str, Any] = {
        "attempts_last_24h": len(recent),
        "caps": [{"cap": cap, "state": state} for cap, state in sorted(set(caps), key=_cap_key)],
    }
    if not caps:
        return Check("cap_24h", Outcome.PASS, None, evidence)
    limit, state = min(caps, key=_cap_key)
    evidence["limit"] = limit
    if len(recent) < limit:
        return Check("cap_24h", Outcome.PASS, None, evidence)
    clears = recent[len(recent) - limit] + DAY
    reason = f"cap_24h_{state.lower()}" if state else "cap_24h"
    evidence["clears_at"] = rfc3339(clears)
    return Check("cap_24h", Outcome.DEFER, reason, evidence, clears_at=clears)


def _cap_key(item: tuple[int, str | None]) -> tuple[int, bool, str]:
    # The lowest cap wins; on a tie the statutory (state) cap is the one reported.
    cap, state = item
    return (cap, state is None, state or "")


# 11
def check_max_attempts(context: CheckContext) -> Check:
    limit = context.facts.tenant.max_attempts_per_lead
    attempts = context.facts.lead_attempts
    evidence = {"lead_attempts": attempts, "max_attempts_per_lead": limit}
    if limit is not None and attempts >= limit:
        return Check("max_attempts", Outcome.BLOCK, "max_attempts", evidence)
    return Check("max_attempts", Outcome.PASS, None, evidence)


# 12
def check_caller_id(context: CheckContext) -> Check:
    present = context.facts.tenant.has_caller_id
    if not present:
        return Check("caller_id", Outcome.BLOCK, "no_valid_caller_id", {"present": False})
    return Check("caller_id", Outcome.PASS, None, {"present": True})


# 13
def check_disclosure(context: CheckContext) -> Check:
    present = context.facts.tenant.has_disclosure_script
    if not present:
        return Check("disclosure_script", Outcome.BLOCK, "no_disclosure_script", {"present": False})
    return Check("disclosure_script", Outcome.PASS, None, {"present": True})


# 14
def check_hold(name: str, hold: Hold, now: dt.datetime) -> Check:
    evidence = {"active": hold.active, "until": rfc3339(hold.until), "reason": hold.reason}
    if hold.in_force(now):
        return Check(name, Outcome.DEFER, name, evidence, clears_at=hold.until)
    return Check(name, Outcome.PASS, None, evidence)


def check_queue(context: CheckContext) -> Check:
    if context.facts.queue_paused:
        return Check("queue_paused", Outcome.DEFER, "queue_paused", {"paused": True})
    return Check("queue_paused", Outcome.PASS, None, {"paused": False})


def check_budget(context: CheckContext) -> Check:
    budget = context.facts.budget
    evidence = {
        "spent_usd": budget.spent_usd,
        "daily_budget_usd": budget.daily_budget_usd,
        "resets_at": rfc3339(budget.resets_at),
    }
    if context.now >= budget.resets_at:
        return Check("budget", Outcome.PASS, None, {**evidence, "counters_expired": True})
    if budget.daily_budget_usd is not None and budget.spent_usd >= budget.daily_budget_usd:
        return Check(
            "budget", Outcome.DEFER, "budget_exhausted", evidence, clears_at=budget.resets_at
        )
    return Check("budget", Outcome.PASS, None, evidence)


def check_daily_cap(context: CheckContext) -> Check:
    budget = context.facts.budget
    evidence = {
        "calls_today": budget.calls_today,
        "calls_per_day": budget.calls_per_day,
        "resets_at": rfc3339(budget.resets_at),
    }
    if context.now >= budget.resets_at:
        return Check("daily_call_cap", Outcome.PASS, None, {**evidence, "counters_expired": True})
    if budget.calls_per_day is not None and budget.calls_today >= budget.calls_per_day:
        return Check(
            "daily_call_cap", Outcome.DEFER, "daily_call_cap", evidence, clears_at=budget.resets_at
        )
    return Check("daily_call_cap", Outcome.PASS, None, evidence)


def _hit_json(hit: DncHit) -> dict[str, Any]:
    return {
        "kind": hit.list_kind.value,
        "name": hit.list_name,
        "data_age_days": hit.data_age_days,
    }
