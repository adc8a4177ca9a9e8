"""A seeded, realistic mix of leads: sources, states and time zones, urgencies, consent present
and missing, Do-Not-Call hits, invalid phones, duplicates and redeliveries."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

SOURCES = ("meta", "google-ads", "hubspot", "salesforce", "zapier", "form", "api")
SOURCE_WEIGHTS = (25, 15, 15, 10, 15, 10, 10)

# Area codes by state across the four contiguous zones plus Alaska and Hawaii.
AREA_CODES: dict[str, tuple[str, ...]] = {
    "NY": ("212", "718", "917"),
    "FL": ("305", "407", "813"),
    "GA": ("404", "678"),
    "TX": ("512", "713", "214"),
    "IL": ("312", "773"),
    "CO": ("303", "720"),
    "AZ": ("602", "480"),
    "CA": ("415", "213", "619"),
    "WA": ("206", "425"),
    "NV": ("702",),
    "AK": ("907",),
    "HI": ("808",),
    "OK": ("405", "918"),
    "MA": ("617",),
}

URGENT_WORDS = {
    "emergency": ("Emergency: no heat and a gas smell", "Burst pipe, water everywhere, emergency"),
    "high": ("AC stopped, need someone today", "Leak under the sink, asap please"),
    "medium": ("Furnace tune-up this week", "Quote for a new water heater"),
    "low": ("Just browsing prices for next year", "No rush, thinking about a new thermostat"),
}
URGENCY_WEIGHTS = {"emergency": 10, "high": 20, "medium": 40, "low": 30}

CONSENT_TEXT = (
    "By submitting, you agree that {seller} may call you at the number provided using an "
    "automated system and an artificial or AI-generated voice. Consent is not a condition of "
    "purchase."
)


@dataclass(frozen=True)
class SimLead:
    index: int
    tenant: int
    source: str
    external_id: str
    first_name: str
    last_name: str
    phone: str
    email: str
    state: str
    message: str
    urgency_hint: str
    consent: bool
    dnc: bool = False
    invalid_phone: bool = False
    redeliver: bool = False
    custom: dict[str, str] = field(default_factory=dict)


FIRST = ("Sarah", "James", "Maria", "Wei", "Aisha", "Diego", "Olga", "Kofi", "Priya", "Liam")
LAST = ("Johnson", "Garcia", "Chen", "Okafor", "Novak", "Silva", "Khan", "Murphy", "Ito", "Rossi")


def _phone(rng: random.Random, state: str) -> str:
    area = rng.choice(AREA_CODES[state])
    # Exchanges 200-999 avoiding 555 and N11 codes; subscriber any 4 digits.
    while True:
        exchange = rng.randint(200, 999)
        if exchange != 555 and exchange % 100 != 11:
            break
    return f"+1{area}{exchange}{rng.randint(0, 9999):04d}"


def population(
    n: int,
    *,
    tenants: int,
    seed: int,
    states: tuple[str, ...] | None = None,
) -> list[SimLead]:
    """`n` distinct leads (duplicates come from `redeliver`, posted twice)."""
    rng = random.Random(seed)
    pool = states or tuple(AREA_CODES)
    urgencies = list(URGENCY_WEIGHTS)
    weights = list(URGENCY_WEIGHTS.values())
    leads: list[SimLead] = []
    for i in range(n):
        state = rng.choice(pool)
        urgency = rng.choices(urgencies, weights)[0]
        roll = rng.random()
        invalid = roll < 0.03
        phone = f"+1555{rng.randint(0, 9999999):07d}" if invalid else _phone(rng, state)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        leads.append(
            SimLead(
                index=i,
                tenant=i % tenants,
                source=rng.choices(SOURCES, SOURCE_WEIGHTS)[0],
                external_id=f"sim-{seed}-{i}",
                first_name=first,
                last_name=last,
                phone=phone,
                email=f"{first.lower()}.{last.lower()}{i}@example.com",
                state=state,
                message=rng.choice(URGENT_WORDS[urgency]),
                urgency_hint=urgency,
                consent=rng.random() >= 0.15,
                dnc=(not invalid) and rng.random() < 0.05,
                invalid_phone=invalid,
                redeliver=rng.random() < 0.05,
            )
        )
    return leads
