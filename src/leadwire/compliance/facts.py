"""Everything the gate decides from, gathered by a service before calling `gate.decide`.

All instants are timezone-aware. The facts are a snapshot: the gate never fetches anything, so
the same facts and the same `now` always give the same decision.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field

from leadwire.compliance.consent import CallPurpose, ConsentEvidence
from leadwire.compliance.locate import PhoneFacts
from leadwire.compliance.windows import DEFAULT_MARGIN, CallingHours, Margin


class DncListKind(enum.StrEnum):
    TENANT = "tenant"  # the tenant's own (seller-specific) do-not-call list
    NATIONAL = "national"  # the National DNC Registry
    STATE = "state"  # a state's own list; `list_name` is the two-letter state
    PLATFORM_OPTOUT = "platform_optout"  # platform-wide suppression


@dataclass(frozen=True, slots=True)
class DncHit:
    """The number is on this list. `data_age_days`: age of the list data (None for live lists)."""

    list_kind: DncListKind
    list_name: str
    data_age_days: int | None = None


@dataclass(frozen=True, slots=True)
class DncSource:
    """A downloaded list that was consulted (hit or not), with the age of its data."""

    list_kind: DncListKind
    list_name: str
    data_age_days: int | None


class RndAnswer(enum.StrEnum):
    """FCC Reassigned Numbers Database answer for (number, consent date)."""

    YES = "yes"  # permanently disconnected since the consent: consent is for someone else
    NO = "no"
    NO_DATA = "no_data"


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantPolicy:
    business_name: str
    seller_aliases: tuple[str, ...] = ()
    enabled: bool = True
    ai_voice_allowed: bool = True  # plan feature
    calling_hours: CallingHours = field(default_factory=CallingHours)
    consent_required: bool = True
    consent_must_name_seller: bool = True
    consent_max_age_days: int | None = None
    max_attempts_per_lead: int | None = None
    max_attempts_per_number_24h: int | None = None  # the tenant's own rolling cap, if any
    has_caller_id: bool = True
    has_disclosure_script: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """Today's usage in the tenant's own day; the counters stop counting at `resets_at`."""

    resets_at: dt.datetime
    spent_usd: float = 0.0
    daily_budget_usd: float | None = None
    calls_today: int = 0
    calls_per_day: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Hold:
    """A pause or emergency; `until` None means until someone lifts it."""

    active: bool = False
    until: dt.datetime | None = None
    reason: str | None = None

    def in_force(self, now: dt.datetime) -> bool:
        return self.active and (self.until is None or now < self.until)


@dataclass(frozen=True, slots=True, kw_only=True)
class GatePolicy:
    """Platform-wide choices the reference leaves to the product (documented in gate.py)."""

    margin: Margin = DEFAULT_MARGIN
    registry_max_age_days: int = 31
    national_dnc_written_permission: bool = True
    rnd_no_data_blocks: bool = True
    search_horizon: dt.timedelta = dt.timedelta(days=14)


@dataclass(frozen=True, slots=True, kw_only=True)
class GateFacts:
    """Facts about one lead about to be called.

    `number_attempts` are this tenant's attempts to this phone number (any of the tenant's leads
    with the number), as instants; only those in the 24 h before `now` count. The state caps
    (FL/OK/MD) are per (number, seller), so other tenants' attempts are not included.
    `lead_attempts` counts this lead's attempts over its whole life.
    """

    phone: PhoneFacts
    tenant: TenantPolicy
    budget: Budget
    lead_state: str | None = None
    lead_postal_code: str | None = None
    consent: ConsentEvidence | None = None
    purpose: CallPurpose = CallPurpose.TELEMARKETING
    has_ebr: bool = False  # established business relationship (NM/NV/MS recorded-voice rules)
    hung_up_on_prior_ai_call: bool = False  # NV: no re-call after the consumer hung up
    dnc_hits: tuple[DncHit, ...] = ()
    dnc_sources: tuple[DncSource, ...] = ()
    reassigned: RndAnswer | None = None  # None: the RND was not queried
    number_attempts: tuple[dt.datetime, ...] = ()
    lead_attempts: int = 0
    emergency: Hold = field(default_factory=Hold)
    tenant_pause: Hold = field(default_factory=Hold)
    queue_paused: bool = False  # the dial queue of this lead's priority is paused
    policy: GatePolicy = field(default_factory=GatePolicy)
