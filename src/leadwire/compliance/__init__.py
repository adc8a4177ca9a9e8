"""Compliance area: may this lead be called now?

Pure core (no I/O), used by the service that gathers the facts:

* `gate.decide(facts, now=...)` -> `decision.Decision` (call / defer(not_before) / block(reason))
* `facts` — `GateFacts` and the plain data it is made of
* `consent` — PEWC evaluation of the lead's consent evidence
* `locate` — phone facts and the candidate (state, zone) set of a lead
* `windows` — calling windows, `is_open` and `next_open`
* `state_rules`, `holiday_calendar` — the versioned rule tables in `data/`
* `dnc_numbers` — parsing DNC files into E.164 digits
"""
