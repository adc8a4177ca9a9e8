"""Request bodies of the admin API (strict: unknown keys are refused)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str = Field(min_length=1, max_length=63)
    name: str | None = Field(default=None, max_length=200)
    plan: Literal["starter", "pro", "enterprise"] = "starter"
    settings: dict[str, Any] | None = None


class TenantPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, max_length=200)
    plan: Literal["starter", "pro", "enterprise"] | None = None
    status: Literal["active", "suspended"] | None = None
    reason: str | None = Field(default=None, max_length=1000)


class EmergencyOn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1000)
    duration_s: int | None = Field(default=None, ge=1, le=30 * 86_400)
    hangup_active: bool = False


class QueuePause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    priority: Literal["emergency", "high", "medium", "low"] | None = None
    reason: str | None = Field(default=None, max_length=1000)


class TenantPause(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)
    until: AwareDatetime | None = None


class Reason(BaseModel):
    """An optional `reason` for actions whose body carries nothing else."""

    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=1000)


class Resolve(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=1000)


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=120)
    scope: Literal["read", "operate"] = "read"


class SimulatorOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["answered", "busy", "no-answer", "machine", "failed"]
    duration_s: int | None = Field(default=None, ge=0, le=3600)
    error_code: int | None = Field(default=None, ge=10000, le=99999)
