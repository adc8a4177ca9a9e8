"""Is the consent on file enough for this call? Pure evaluation of consent evidence.

An AI voice is an "artificial voice" under the TCPA (FCC 24-17), so an AI *sales* call needs prior
express written consent (PEWC, reference 1.2-1.4): a written/electronic agreement, not revoked,
with a timestamp that is not in the future, whose text authorizes calls with an artificial,
prerecorded or AI voice and names the seller (this tenant's business name).

Lead types a tenant may relax (`consent.required = false`), per the reference table in 1.2:

* `informational`: purely informational, non-marketing calls need only *prior express consent*,
  which may be oral. The gate then asks only that consent was granted and not revoked.
* Telemarketing never relaxes. An established business relationship (EBR) is **not** an
  exemption: since 2013 it no longer substitutes for written consent for artificial-voice
  telemarketing (reference 1.2), so EBR is not a lead type here.

Text flags are found with simple phrase patterns. They do not understand negation ("we will never
use an AI voice" counts as mentioning one); the verbatim text and its hash are kept as evidence
for review.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from leadwire.platform.errors import InvalidPayload

_TRUE_STRINGS = frozenset({"true", "yes", "1", "on"})

_ARTIFICIAL_VOICE = (
    ("artificial voice", r"\bartificial(?:\s+or\s+pre-?\s?recorded)?\s+voices?\b"),
    ("artificial intelligence", r"\bartificial[\s-]+intelligence\b"),
    ("prerecorded", r"\bpre-?\s?recorded\b"),
    ("recorded message", r"\brecorded\s+(?:voice\s+)?messages?\b"),
    ("ai", r"\b(?:ai|a\.i\.)(?=[\s,.;:)/'-]|$)"),
    ("automated voice", r"\bautomated\s+(?:voice|agent|assistant)s?\b"),
    ("computer-generated voice", r"\bcomputer[\s-]+generated\b"),
    ("synthetic voice", r"\bsynthetic\s+voices?\b"),
    ("virtual agent", r"\bvirtual\s+(?:agent|assistant)s?\b"),
)
_AUTODIALER = (
    ("autodialer", r"\bauto-?\s?dial(?:er|ers|ed|ing)?\b"),
    ("automatic telephone dialing system", r"\bautomatic\s+telephone\s+dialing\s+system"),
    ("automated dialing", r"\bautomat(?:ed|ic)\s+dialing\b"),
    ("automated technology", r"\bautomated\s+(?:technology|technologies|means|system)\b"),
)
_NOT_CONDITION = (
    (
        "not a condition of purchase",
        r"\bnot\s+(?:a\s+)?(?:condition|required|requirement)\b[^.]{0,40}?\bpurchas",
    ),
)
_LEGAL_SUFFIXES = frozenset(
    {"llc", "inc", "incorporated", "corp", "corporation", "co", "ltd", "lp"}
)


class CallPurpose(enum.StrEnum):
    TELEMARKETING = "telemarketing"
    INFORMATIONAL = "informational"


class ConsentLevel(enum.StrEnum):
    PEWC = "pewc"  # prior express written consent
    PRIOR_EXPRESS = "prior_express"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentEvidence:
    """The consent attached to a lead (contract section 5 shape) plus what the service knows."""

    granted: bool
    text: str | None = None
    timestamp: dt.datetime | None = None
    timestamp_invalid: bool = False
    revoked_at: dt.datetime | None = None
    phone_e164: str | None = None  # the number the form says was consented, when it says
    seller_names: tuple[str, ...] = ()  # seller names shown on the form, when recorded
    page_url: str | None = None

    @classmethod
    def from_payload(
        cls,
        payload: Mapping[str, Any] | None,
        *,
        revoked_at: dt.datetime | None = None,
    ) -> ConsentEvidence | None:
        """From the lead's `consent` object; None when there is none.

        `granted` accepts JSON true and the checkbox strings "true"/"yes"/"1"/"on". A timestamp
        that is not RFC 3339 with an offset is kept as missing with `timestamp_invalid` set.
        """
        if payload is None:
            return None
        if not isinstance(payload, Mapping):
            raise InvalidPayload("consent must be an object", field="consent")
        granted_raw = payload.get("granted")
        granted = granted_raw is True or (
            isinstance(granted_raw, str) and granted_raw.strip().lower() in _TRUE_STRINGS
        )
        text = payload.get("text")
        timestamp, invalid = _parse_timestamp(payload.get("timestamp"))
        sellers = payload.get("seller_names") or ()
        phone = payload.get("phone")
        page_url = payload.get("page_url")
        return cls(
            granted=granted,
            text=text if isinstance(text, str) and text.strip() else None,
            timestamp=timestamp,
            timestamp_invalid=invalid,
            revoked_at=revoked_at,
            phone_e164=phone if isinstance(phone, str) and phone else None,
            seller_names=tuple(str(name) for name in sellers if isinstance(name, str)),
            page_url=page_url if isinstance(page_url, str) else None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsentPolicy:
    """The tenant's consent settings and the platform's consent rules."""

    required: bool = True
    business_name: str
    seller_aliases: tuple[str, ...] = ()  # other registered names of the same seller
    require_seller_name: bool = True
    max_age_days: int | None = None  # consent older than this is expired (tenant policy)
    accept_autodialer_only: bool = False  # text naming only an autodialer, no artificial voice
    clock_skew: dt.timedelta = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class ConsentFlags:
    artificial_voice: bool
    autodialer: bool
    not_condition_of_purchase: bool
    matched: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ConsentResult:
    ok: bool
    reason: str | None
    level: ConsentLevel
    seller_named: bool
    evidence: Mapping[str, Any]

    @property
    def written_permission(self) -> bool:
        """Also the DNC registry's "written permission" exception: PEWC naming this seller."""
        return self.ok and self.level is ConsentLevel.PEWC and self.seller_named


def parse_flags(text: str) -> ConsentFlags:
    normalized = _normalize(text)
    matched: list[str] = []

    def scan(patterns: Iterable[tuple[str, str]]) -> bool:
        hit = False
        for label, pattern in patterns:
            if re.search(pattern, normalized):
                matched.append(label)
                hit = True
        return hit

    return ConsentFlags(
        artificial_voice=scan(_ARTIFICIAL_VOICE),
        autodialer=scan(_AUTODIALER),
        not_condition_of_purchase=scan(_NOT_CONDITION),
        matched=tuple(matched),
    )


def names_seller(text: str, names: Iterable[str]) -> str | None:
    """The first of `names` that appears in `text` as whole words (case, punctuation and
    legal suffixes like "LLC" ignored), or None."""
    haystack = f" {_name_key(text)} "
    for name in names:
        key = _name_key(name, strip_suffix=True)
        if key and f" {key} " in haystack:
            return name
    return None


def evaluate_consent(
    evidence: ConsentEvidence | None,
    *,
    policy: ConsentPolicy,
    purpose: CallPurpose,
    phone_e164: str | None,
    now: dt.datetime,
) -> ConsentResult:
    """Decide whether `evidence` covers this call; `reason` is a snake_case block code."""
    level = (
        ConsentLevel.PRIOR_EXPRESS
        if purpose is CallPurpose.INFORMATIONAL and not policy.required
        else ConsentLevel.PEWC
    )
    facts: dict[str, Any] = {"level_required": level.value, "purpose": purpose.value}
    if purpose is CallPurpose.TELEMARKETING and not policy.required:
        facts["tenant_relaxation_ignored"] = True

    def result(reason: str | None, seller_named: bool = False) -> ConsentResult:
        return ConsentResult(reason is None, reason, level, seller_named, facts)

    if evidence is None:
        facts["present"] = False
        return result("no_consent")
    facts["present"] = True
    facts["granted"] = evidence.granted
    if evidence.revoked_at is not None and evidence.revoked_at <= now:
        facts["revoked_at"] = _iso(evidence.revoked_at)
        return result("consent_revoked")
    if not evidence.granted:
        return result("no_consent")
    if evidence.phone_e164 is not None and phone_e164 is not None:
        facts["number_matches"] = evidence.phone_e164 == phone_e164
        if evidence.phone_e164 != phone_e164:
            return result("consent_wrong_number")
    if level is ConsentLevel.PRIOR_EXPRESS:
        return result(None)

    text = evidence.text
    if text is None:
        facts["text_present"] = False
        return result("consent_text_missing")
    flags = parse_flags(text)
    sellers = (policy.business_name, *policy.seller_aliases)
    seller_match = names_seller(text, sellers) or next(
        (name for name in evidence.seller_names if names_seller(name, sellers)), None
    )
    facts.update(
        {
            "text_present": True,
            "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest(),
            "text_length": len(text),
            "mentions_artificial_voice": flags.artificial_voice,
            "mentions_autodialer": flags.autodialer,
            "mentions_not_condition_of_purchase": flags.not_condition_of_purchase,
            "matched_terms": list(flags.matched),
            "seller_named": seller_match is not None,
            "seller_required": policy.require_seller_name,
        }
    )
    seller_named = seller_match is not None
    covers_voice = flags.artificial_voice or (policy.accept_autodialer_only and flags.autodialer)
    if not covers_voice:
        return result("consent_no_artificial_voice", seller_named)
    if policy.require_seller_name and not seller_named:
        return result("consent_wrong_seller", seller_named)
    if evidence.timestamp is None:
        facts["timestamp_invalid"] = evidence.timestamp_invalid
        return result(
            "consent_timestamp_invalid"
            if evidence.timestamp_invalid
            else "consent_timestamp_missing",
            seller_named,
        )
    facts["timestamp"] = _iso(evidence.timestamp)
    if evidence.timestamp > now + policy.clock_skew:
        return result("consent_timestamp_future", seller_named)
    age = now - evidence.timestamp
    facts["age_days"] = max(0, age.days)
    if policy.max_age_days is not None and age > dt.timedelta(days=policy.max_age_days):
        facts["max_age_days"] = policy.max_age_days
        return result("consent_expired", seller_named)
    return result(None, seller_named)


def _parse_timestamp(value: Any) -> tuple[dt.datetime | None, bool]:
    if value is None or value == "":
        return None, False
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None, True
    else:
        return None, True
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        return None, True
    return parsed, False


def _normalize(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2010", "-").replace("\u2011", "-")
    return " ".join(text.lower().split())


def _name_key(text: str, *, strip_suffix: bool = False) -> str:
    words = re.sub(r"[^0-9a-z&]+", " ", text.lower().replace("'", "")).split()
    if strip_suffix:
        while len(words) > 1 and words[-1] in _LEGAL_SUFFIXES:
            words.pop()
    return " ".join(words)


def _iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
