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

from leadwire.compliance import checks
from leadwire.compliance.checks import CheckContext
from leadwire.compliance.consent import ConsentPolicy, evaluate_consent
from leadwire.compliance.decision import CALL_REASON, Check, Decision, Outcome, Verdict, rfc3339
from leadwire.compliance.facts import GateFacts
from leadwire.compliance.locate import locate
from leadwire.compliance.state_rules import RuleBook, default_rule_book
from leadwire.compliance.windows import next_open


def decide(facts: GateFacts, *, now: dt.datetime, rules: RuleBook | None = None) -> Decision:
    """Decide whether to call this lead now. Pure: same facts and `now`, same decision."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(dt.UTC)
    phone_check = checks.check_phone(facts)
    context = CheckContext(
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
    results = [
        phone_check,
        checks.check_tenant(context),
        checks.check_internal_dnc(context),
        checks.check_consent(context),
        checks.check_reassigned(context),
        checks.check_dnc_registry(context),
        checks.check_recorded_message(context),
        checks.check_location(context),
        checks.check_window(context),
        checks.check_cap(context),
        checks.check_max_attempts(context),
        checks.check_caller_id(context),
        checks.check_disclosure(context),
        checks.check_hold("emergency_mode", facts.emergency, now),
        checks.check_hold("tenant_paused", facts.tenant_pause, now),
        checks.check_queue(context),
        checks.check_budget(context),
        checks.check_daily_cap(context),
    ]
    return _combine(context, results)


def _combine(context: CheckContext, results: list[Check]) -> Decision:
    blocks = [check for check in results if check.outcome is Outcome.BLOCK]
    if blocks:
        return Decision(Verdict.BLOCK, _reason(blocks[0]), None, tuple(results))
    defers = [check for check in results if check.outcome is Outcome.DEFER]
    if not defers:
        return Decision(Verdict.CALL, CALL_REASON, None, tuple(results))
    held = [check for check in defers if check.clears_at is None]
    if held:
        return Decision(Verdict.DEFER, _reason(held[0]), None, tuple(results))
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
        results.append(
            Check(
                "schedule",
                Outcome.BLOCK,
                "no_window_found",
                {"searched_from": rfc3339(release), "horizon_days": policy.search_horizon.days},
            )
        )
        return Decision(Verdict.BLOCK, "no_window_found", None, tuple(results))
    return Decision(Verdict.DEFER, _reason(binding), not_before, tuple(results))


def _reason(check: Check) -> str:
    assert check.reason is not None, check.name
    return check.reason
