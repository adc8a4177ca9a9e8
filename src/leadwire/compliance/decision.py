"""What the gate answers: `call`, `defer(not_before, reason)` or `block(reason)`, with evidence."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CALL_REASON = "all_checks_passed"


class Verdict(enum.StrEnum):
    CALL = "call"
    DEFER = "defer"
    BLOCK = "block"


class Outcome(enum.StrEnum):
    PASS = "pass"  # noqa: S105 - an outcome, not a password
    DEFER = "defer"
    BLOCK = "block"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Check:
    """One check the gate ran. `evidence` holds JSON values only.

    For a deferring check, `clears_at` is when this check alone would pass with unchanged facts
    (None: not known, e.g. a pause without an end).
    """

    name: str
    outcome: Outcome
    reason: str | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    clears_at: dt.datetime | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "evidence": dict(self.evidence),
        }
        if self.outcome is Outcome.DEFER:
            body["clears_at"] = rfc3339(self.clears_at)
        return body


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str
    not_before: dt.datetime | None
    checks: tuple[Check, ...]

    @property
    def blocked(self) -> bool:
        return self.verdict is Verdict.BLOCK

    def check(self, name: str) -> Check | None:
        return next((check for check in self.checks if check.name == name), None)

    def to_json(self) -> dict[str, Any]:
        """The contract's `POST /v1/compliance/check` body."""
        return {
            "decision": self.verdict.value,
            "reason": self.reason,
            "not_before": rfc3339(self.not_before),
            "checks": [check.to_json() for check in self.checks],
        }


def rfc3339(instant: dt.datetime | None) -> str | None:
    if instant is None:
        return None
    return instant.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
