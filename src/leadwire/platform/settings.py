"""Settings: one pydantic-settings object read from the environment (and an optional `.env`).

Variable names follow CONTRACT.md section 3. A missing or malformed setting becomes one
`ConfigurationError` line naming the variable, which the CLI prints before exiting non-zero.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadwire.platform.errors import ConfigurationError

_ENV_NAMES = {
    "database_url": "LEADWIRE_DATABASE_URL",
    "redis_url": "LEADWIRE_REDIS_URL",
    "admin_token": "LEADWIRE_ADMIN_TOKEN",
    "public_url": "LEADWIRE_PUBLIC_URL",
    "secret_key": "LEADWIRE_SECRET_KEY",
    "telephony": "LEADWIRE_TELEPHONY",
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "twilio_api_base": "LEADWIRE_TWILIO_API_BASE",
    "meta_app_secret": "LEADWIRE_META_APP_SECRET",
    "meta_verify_token": "LEADWIRE_META_VERIFY_TOKEN",
    "hubspot_client_secret": "LEADWIRE_HUBSPOT_CLIENT_SECRET",
    "gemini_api_key": "GEMINI_API_KEY",
}


def _env(name: str) -> AliasChoices:
    return AliasChoices(_ENV_NAMES[name])


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LEADWIRE_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Servers. Unset means "start the embedded default" for `leadwire up` and the tests.
    database_url: str | None = Field(default=None, validation_alias=_env("database_url"))
    redis_url: str | None = Field(default=None, validation_alias=_env("redis_url"))

    admin_token: SecretStr | None = Field(default=None, validation_alias=_env("admin_token"))
    public_url: str = Field(default="http://127.0.0.1:8000", validation_alias=_env("public_url"))
    secret_key: SecretStr | None = Field(default=None, validation_alias=_env("secret_key"))

    telephony: Literal["simulated", "twilio"] = Field(
        default="simulated", validation_alias=_env("telephony")
    )
    twilio_account_sid: str | None = Field(
        default=None, validation_alias=_env("twilio_account_sid")
    )
    twilio_auth_token: SecretStr | None = Field(
        default=None, validation_alias=_env("twilio_auth_token")
    )
    twilio_api_base: str = Field(
        default="https://api.twilio.com", validation_alias=_env("twilio_api_base")
    )

    meta_app_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("meta_app_secret")
    )
    meta_verify_token: SecretStr | None = Field(
        default=None, validation_alias=_env("meta_verify_token")
    )
    hubspot_client_secret: SecretStr | None = Field(
        default=None, validation_alias=_env("hubspot_client_secret")
    )
    gemini_api_key: SecretStr | None = Field(default=None, validation_alias=_env("gemini_api_key"))

    # Operational knobs (LEADWIRE_ prefix implied); documented in .env.example.
    data_dir: Path = Path(".leadwire")
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    db_pool_size: int = Field(default=20, ge=1, le=500)
    api_workers: int = Field(default=1, ge=1, le=64)
    startup_timeout_s: float = Field(default=8.0, gt=0, le=60)
    cross_tenant_optout: bool = False
    ip_rate_limit_per_minute: int = Field(default=600, ge=1)
    tenant_flood_per_minute: int = Field(default=6000, ge=1)
    simulator_time_scale: float = Field(default=0.05, gt=0, le=1)
    # Dialer (telephony area; README "Dialer").
    twilio_cps: float = Field(default=1.0, gt=0, le=1000)
    max_calls_per_number_24h: int = Field(default=6, ge=1, le=1000)
    call_cost_per_minute_usd: float = Field(default=0.014, ge=0, le=100)
    simulator_seed: str = "leadwire"
    # Outside APIs' bases (staging fakes, `leadwire simulate`); production uses the defaults.
    meta_graph_base: str = "https://graph.facebook.com"
    hubspot_api_base: str = "https://api.hubapi.com"
    simulator_clock_offset_s: float = Field(default=0.0, ge=-7 * 86_400, le=7 * 86_400)

    # A worker process's own Prometheus endpoint (`leadwire worker --metrics-port`); 0: off.
    worker_metrics_port: int = Field(default=0, ge=0, le=65_535)
    worker_metrics_host: str = "127.0.0.1"

    # Escalations (platform.escalation): signed webhooks to the operators' endpoint.
    escalation_webhook_url: str | None = None
    escalation_webhook_secret: SecretStr | None = Field(default=None, validate_default=True)
    escalation_dedupe_window_s: int = Field(default=900, ge=0, le=7 * 86_400)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        scheme = urlsplit(value).scheme
        if scheme in ("postgres", "postgresql"):
            value = "postgresql+asyncpg" + value[len(scheme) :]
        elif scheme != "postgresql+asyncpg":
            raise ValueError("must be a postgresql+asyncpg:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("public_url", "twilio_api_base", "meta_graph_base", "hubspot_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("escalation_webhook_url")
    @classmethod
    def _escalation_url(cls, value: str | None) -> str | None:
        if not value:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("escalation_webhook_secret")
    @classmethod
    def _escalation_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        secret = value.get_secret_value() if value is not None else ""
        if not secret:
            if info.data.get("escalation_webhook_url"):
                raise ValueError("is required when LEADWIRE_ESCALATION_WEBHOOK_URL is set")
            return None
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            key = b""
        if not secret.startswith("whsec_") or len(key) < 24:
            raise ValueError("must be whsec_ followed by base64 of 24 to 64 random bytes")
        return value

    @field_validator("admin_token")
    @classmethod
    def _admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("must be at least 16 characters")
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value and not (value.startswith("AC") and len(value) == 34):
            raise ValueError("must be a Twilio Account SID (AC + 32 hex digits)")
        return value or None

    def require(self, *names: str) -> None:
        """Fail with one line when a setting needed by this process is unset."""
        for name in names:
            if getattr(self, name) in (None, ""):
                raise ConfigurationError(f"{_ENV_NAMES.get(name, name)} is not set")
        if self.telephony == "twilio":
            for name in ("twilio_account_sid", "twilio_auth_token"):
                if getattr(self, name) is None:
                    raise ConfigurationError(
                        f"{_ENV_NAMES[name]} is not set (required with LEADWIRE_TELEPHONY=twilio)"
                    )

    @cached_property
    def fernet_key(self) -> bytes:
        """A Fernet key derived from LEADWIRE_SECRET_KEY (any string of 32+ characters)."""
        if self.secret_key is None:
            raise ConfigurationError("LEADWIRE_SECRET_KEY is not set")
        digest = hashlib.sha256(b"leadwire-secrets:" + self.secret_key.get_secret_value().encode())
        return base64.urlsafe_b64encode(digest.digest())

    @property
    def twilio_signing_token(self) -> str:
        """The token Twilio (or the simulated carrier) signs callbacks with."""
        if self.twilio_auth_token is not None:
            return self.twilio_auth_token.get_secret_value()
        # The simulated carrier needs a token even without Twilio credentials: derive one.
        seed = self.secret_key.get_secret_value() if self.secret_key else "leadwire-dev"
        return hashlib.sha256(b"simulated-carrier:" + seed.encode()).hexdigest()


def env_name(field: str) -> str:
    """The environment variable behind a settings field (or an alias already)."""
    if field in _ENV_NAMES.values():
        return field
    return _ENV_NAMES.get(field, f"LEADWIRE_{field.upper()}")


def load_settings(**overrides: object) -> Settings:
    """Read settings; turn a validation failure into one line naming the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = str(first["loc"][0]) if first["loc"] else "settings"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigurationError(f"{env_name(loc)}: {message}") from None
