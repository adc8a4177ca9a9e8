from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


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
