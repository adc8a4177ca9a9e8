"""The compliance gate: `decide(facts, now=...)` -> call | defer(not_before) | block(reason).

Checks run in the order of reference section 0.1, then the tenant's operational limits:

 1. `phone_number`       block `invalid_phone`, `unsupported_region`, `non_geographic`
 2. `tenant`             block `tenant_disabled`, `plan_excludes_ai_voice`
 3. `internal_dnc`       block `internal_dnc` (tenant list), `platform_optout`
 4. `consent`            block `no_consent`, `consent_revoked`, `consent_wrong_number`,
                         `consent_text_missing`, `consent_no_artificial_voice`,
                         `consent_wrong_seller`, `consent_timestamp_missing|invalid|future`,
                         `consent_expired`
 5. `reassigned_number`  block `reassigned_number`, `rnd_no_data` (skipped when not queried)
 6. `dnc_registry`       block `national_dnc`, `state_dnc_<st>`; defer `dnc_data_stale`
 7. `state_recorded_message`  block `state_recorded_message_ban_<st>`
 8. `location`           block `unknown_location`
 9. `calling_window`     defer `outside_window`, `outside_window_<st>`, `sunday_<st>`,
                         `state_holiday_<st>`, `closed_day_<st>`, `outside_tenant_hours`;
                         block `no_window_found`
10. `cap_24h`            defer `cap_24h_<st>` (FL/OK/MD) or `cap_24h` (the tenant's own cap)
11. `max_attempts`       block `max_attempts`
12. `caller_id`          block `no_valid_caller_id`
13. `disclosure_script`  block `no_disclosure_script`
14. `emergency_mode`, `tenant_paused`, `queue_paused`, `budget` (`budget_exhausted`),
    `daily_call_cap`     defer only, never block.

Every check runs and is recorded (a check that cannot run is `skipped`). Any block wins, and the
decision's reason is the first block's. Otherwise any defer gives `defer`: its reason is the
deferring check that clears last, and `not_before` is the first instant, after every deferring
check has cleared, at which all calling windows are open — so deciding again at `not_before`
with the same facts answers `call`. When a deferring check has no known end (a pause or
emergency without `until`, a queue pause, stale DNC data), `not_before` is null: the work is held
until the condition is lifted and the gate is asked again.

Rules the reference leaves to the product, decided here:

* National DNC hit: allowed when the consent is PEWC naming this seller (the registry's
  "written permission" exception, 2.3), unless `GatePolicy.national_dnc_written_permission` is
  off. A state-list hit always blocks (state exceptions unverified, 2.6).
* DNC data older than 31 days (`GatePolicy.registry_max_age_days`): the scrub no longer
  supports the safe harbor, so the call is *held* (`defer`, reason `dnc_data_stale`, no
  `not_before`) until fresher data is loaded; a hit from stale data still blocks. A stale
  national list does not hold a call covered by the written-permission exception. A registry
  that was never loaded is reported in the evidence (`national_registry_loaded: false`).
* RND `no_data` blocks (conservative, 2.7) unless `GatePolicy.rnd_no_data_blocks` is off.
* Unknown location (no candidate) blocks.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from leadwire.compliance.consent import (
    CallPurpose,
    ConsentPolicy,
    ConsentResult,
    evaluate_consent,
)
from leadwire.compliance.decision import CALL_REASON, Check, Decision, Outcome, Verdict, rfc3339
from leadwire.compliance.facts import DncHit, DncListKind, GateFacts, Hold, RndAnswer
from leadwire.compliance.locate import Candidate, Location, locate
from leadwire.compliance.state_rules import RecordedMessageRule, RuleBook, default_rule_book
from leadwire.compliance.windows import evaluate_window, next_open

DAY = dt.timedelta(hours=24)


@dataclass(frozen=True, slots=True)
class _Context:
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


def decide(facts: GateFacts, *, now: dt.datetime, rules: RuleBook | None = None) -> Decision:
    """Decide whether to call this lead now. Pure: same facts and `now`, same decision."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.UTC)
    phone_check = _check_phone(facts)
    context = _Context(
        facts=facts,
        now=now,
        rules=rules or default_rule_book(),
        phone_ok=phone_check.outcome is Outcome.PASS,
        location=locate(
            phone=facts.phone, state=facts.lead_state, postal_code=facts.lead_postal_code
        ),
        consent=evaluate_consent(
            facts.consent,
            policy=ConsentPolicy(
                required=facts.tenant.consent_required,
                business_name=facts.tenant.business_name,
                seller_aliases=facts.tenant.seller_aliases,
                require_seller_name=facts.tenant.consent_must_name_seller,
                max_age_days=facts.tenant.consent_max_age_days,
            ),
            purpose=facts.purpose,
            phone_e164=facts.phone.e164,
            now=now,
        ),
    )
    checks = [
        phone_check,
        _check_tenant(context),
        _check_internal_dnc(context),
        _check_consent(context),
        _check_reassigned(context),
        _check_dnc_registry(context),
        _check_recorded_message(context),
        _check_location(context),
        _check_window(context),
        _check_cap(context),
        _check_max_attempts(context),
        _check_caller_id(context),
        _check_disclosure(context),
        _check_hold("emergency_mode", facts.emergency, now),
        _check_hold("tenant_paused", facts.tenant_pause, now),
        _check_queue(context),
        _check_budget(context),
        _check_daily_cap(context),
    ]
    return _combine(context, checks)


def _combine(context: _Context, checks: list[Check]) -> Decision:
    blocks = [check for check in checks if check.outcome is Outcome.BLOCK]
    if blocks:
        return Decision(Verdict.BLOCK, _reason(blocks[0]), None, tuple(checks))
    defers = [check for check in checks if check.outcome is Outcome.DEFER]
    if not defers:
        return Decision(Verdict.CALL, CALL_REASON, None, tuple(checks))
    held = [check for check in defers if check.clears_at is None]
    if held:
        return Decision(Verdict.DEFER, _reason(held[0]), None, tuple(checks))
    release = max(check.clears_at for check in defers if check.clears_at is not None)
    binding = next(check for check in defers if check.clears_at == release)
    policy = context.facts.policy
    not_before = next_open(
        context.candidates,
        context.rules,
        context.facts.tenant.calling_hours,
        max(context.now, release),
        margin=policy.margin,
        horizon=policy.search_horizon,
    )
    if not_before is None:
        checks.append(
            Check(
                "schedule",
                Outcome.BLOCK,
                "no_window_found",
                {"searched_from": rfc3339(release), "horizon_days": policy.search_horizon.days},
            )
        )
        return Decision(Verdict.BLOCK, "no_window_found", None, tuple(checks))
    return Decision(Verdict.DEFER, _reason(binding), not_before, tuple(checks))


def _reason(check: Check) -> str:
    assert check.reason is not None, check.name
    return check.reason


def _skipped(name: str, why: str) -> Check:
    return Check(name, Outcome.SKIPPED, None, {"skipped_because": why})


# 1
def _check_phone(facts: GateFacts) -> Check:
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
def _check_tenant(context: _Context) -> Check:
    tenant = context.facts.tenant
    evidence = {"enabled": tenant.enabled, "ai_voice_allowed": tenant.ai_voice_allowed}
    if not tenant.enabled:
        return Check("tenant", Outcome.BLOCK, "tenant_disabled", evidence)
    if not tenant.ai_voice_allowed:
        return Check("tenant", Outcome.BLOCK, "plan_excludes_ai_voice", evidence)
    return Check("tenant", Outcome.PASS, None, evidence)


# 3
def _check_internal_dnc(context: _Context) -> Check:
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
def _check_consent(context: _Context) -> Check:
    result = context.consent
    outcome = Outcome.PASS if result.ok else Outcome.BLOCK
    return Check("consent", outcome, result.reason, dict(result.evidence))


# 5
def _check_reassigned(context: _Context) -> Check:
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
def _check_dnc_registry(context: _Context) -> Check:
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
def _check_recorded_message(context: _Context) -> Check:
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
def _check_location(context: _Context) -> Check:
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
def _check_window(context: _Context) -> Check:
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
def _check_cap(context: _Context) -> Check:
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
def _check_max_attempts(context: _Context) -> Check:
    limit = context.facts.tenant.max_attempts_per_lead
    attempts = context.facts.lead_attempts
    evidence = {"lead_attempts": attempts, "max_attempts_per_lead": limit}
    if limit is not None and attempts >= limit:
        return Check("max_attempts", Outcome.BLOCK, "max_attempts", evidence)
    return Check("max_attempts", Outcome.PASS, None, evidence)


# 12
def _check_caller_id(context: _Context) -> Check:
    present = context.facts.tenant.has_caller_id
    if not present:
        return Check("caller_id", Outcome.BLOCK, "no_valid_caller_id", {"present": False})
    return Check("caller_id", Outcome.PASS, None, {"present": True})


# 13
def _check_disclosure(context: _Context) -> Check:
    present = context.facts.tenant.has_disclosure_script
    if not present:
        return Check("disclosure_script", Outcome.BLOCK, "no_disclosure_script", {"present": False})
    return Check("disclosure_script", Outcome.PASS, None, {"present": True})


# 14
def _check_hold(name: str, hold: Hold, now: dt.datetime) -> Check:
    evidence = {"active": hold.active, "until": rfc3339(hold.until), "reason": hold.reason}
    if hold.in_force(now):
        return Check(name, Outcome.DEFER, name, evidence, clears_at=hold.until)
    return Check(name, Outcome.PASS, None, evidence)


def _check_queue(context: _Context) -> Check:
    if context.facts.queue_paused:
        return Check("queue_paused", Outcome.DEFER, "queue_paused", {"paused": True})
    return Check("queue_paused", Outcome.PASS, None, {"paused": False})


def _check_budget(context: _Context) -> Check:
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


def _check_daily_cap(context: _Context) -> Check:
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
