"""The secrets and settings adapters verify against.

`SourceCredentials` is one tenant's `sources.<name>` block of the settings (CONTRACT.md section
5), secrets included. It is a single model for every source (each adapter reads the fields it
needs and treats a missing one as "not configured"), so adding a source does not touch this file
unless the source needs a new setting; unknown keys are kept (`model_extra`) for that case.

`PlatformSecrets` holds the platform-wide app secrets from the environment
(`LEADWIRE_META_APP_SECRET`, `LEADWIRE_META_VERIFY_TOKEN`, `LEADWIRE_HUBSPOT_CLIENT_SECRET`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator

__all__ = ["PlatformSecrets", "SourceCredentials"]


class SourceCredentials(BaseModel):
    """One `sources.<name>` settings block.

    meta: `page_ids`, `page_access_token`, `app_secret` (else the platform's), `verify_token`
        (else the platform's; only for a tenant's own Meta app).
    hubspot: `portal_id`, `access_token`, `client_secret` (else the platform's).
    salesforce: `organization_id` (15 or 18 characters), `allowed_networks` (optional CIDR
        allow-list for the sender's address; Salesforce publishes its ranges).
    google_ads: `google_key`.
    zapier: `secret`.
    form: `secret`, `public`, `allowed_origins`.
    """

    model_config = ConfigDict(frozen=True, extra="allow", str_strip_whitespace=True)

    # meta
    page_ids: tuple[str, ...] = ()
    page_access_token: SecretStr | None = None
    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None
    # hubspot
    portal_id: int | None = None
    access_token: SecretStr | None = None
    client_secret: SecretStr | None = None
    # salesforce
    organization_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{15}([A-Za-z0-9]{3})?$")
    allowed_networks: tuple[IPvAnyNetwork, ...] = ()
    # google_ads
    google_key: SecretStr | None = None
    # zapier, form
    secret: SecretStr | None = None
    public: bool = False
    allowed_origins: tuple[str, ...] = ()

    @field_validator("page_ids", mode="before")
    @classmethod
    def _ids_as_strings(cls, value: Any) -> Any:
        # Page ids exceed 2**53; settings written by hand may carry them as numbers.
        if isinstance(value, list | tuple):
            return tuple(str(item) if isinstance(item, int) else item for item in value)
        return value

    @classmethod
    def from_sources(cls, sources: Mapping[str, Any] | None, key: str) -> SourceCredentials | None:
        """The block `sources[key]` of a tenant's settings, or None when it is absent."""
        if not sources or key not in sources or sources[key] is None:
            return None
        return cls.model_validate(sources[key])


class PlatformSecrets(BaseModel):
    """Secrets of the platform's own Meta and HubSpot apps (app-level endpoints)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    hubspot_client_secret: SecretStr | None = None
