"""The dial pipeline: route a ready lead, make a due attempt eligible, and dial from the board.

1. `route_lead` (task `dialer.route`, queue intake): the gate at stage "queue"; block -> the
   lead is blocked and never dialed; call/defer -> scheduled at
   ``max(received_at + dial_delays_s[priority], not_before)`` with a `dialer.dial` job on the
   priority's queue (key ``lead.dial:<lead>:<attempt>``).
2. `make_eligible` (task `dialer.dial`): at the due time, pauses are read (emergency, tenant,
   queue: held work is re-checked every ~15 s, never dropped) and the attempt is posted to the
   board (`board.py`), which orders every eligible attempt by priority and tenant.
3. `drain` (the same task, then `dialer.dispatch` wake-ups): claims the board's best ticket
   (slot and send time included) and `dial_claim`s it:
   the dial transaction re-reads the pauses and runs the gate at stage "dial", takes the rate
   windows and the budget (a refusal puts the ticket back: not an error, not an attempt),
   chooses the caller ID, and records the attempt (`calls` row + `compliance.record_attempt`)
   before the provider is called at the reserved send time; the CallSid is stored after.
4. Recovery: an attempt recorded without a CallSid whose dial lease passed (the dialer died, or
   the provider's answer was lost) is posted again, and its dial first asks the provider
   (`find_call`) whether the call exists: no person is called twice for one attempt.
"""

from leadwire.telephony.dialer.dispatch import dial_claim, drain
from leadwire.telephony.dialer.route import make_eligible, route_lead, route_locked
from leadwire.telephony.dialer.sweeper import SweepReport, recover_dialing, sweep

__all__ = [
    "SweepReport",
    "dial_claim",
    "drain",
    "make_eligible",
    "recover_dialing",
    "route_lead",
    "route_locked",
    "sweep",
]
