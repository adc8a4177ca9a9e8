from __future__ import annotations

import pytest

from leadwire.platform.errors import ConfigurationError
from leadwire.platform.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _no_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for name in ("LEADWIRE_DATABASE_URL", "LEADWIRE_REDIS_URL", "LEADWIRE_TELEPHONY"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        (
            "LEADWIRE_DATABASE_URL",
            "mysql://x",
            "LEADWIRE_DATABASE_URL: must be a postgresql+asyncpg:// URL",
        ),
        (
            "LEADWIRE_REDIS_URL",
            "http://x",
            "LEADWIRE_REDIS_URL: must be a redis://, rediss:// or unix:// URL",
        ),
        ("LEADWIRE_PUBLIC_URL", "not a url", "LEADWIRE_PUBLIC_URL: must be an http(s) URL"),
        ("LEADWIRE_TELEPHONY", "carrier-pigeon", "LEADWIRE_TELEPHONY:"),
        ("LEADWIRE_ADMIN_TOKEN", "short", "LEADWIRE_ADMIN_TOKEN: must be at least 16 characters"),
        ("LEADWIRE_SECRET_KEY", "short", "LEADWIRE_SECRET_KEY: must be at least 32 characters"),
        ("TWILIO_ACCOUNT_SID", "XY123", "TWILIO_ACCOUNT_SID: must be a Twilio Account SID"),
        ("LEADWIRE_MAX_BODY_BYTES", "lots", "LEADWIRE_MAX_BODY_BYTES:"),
        ("LEADWIRE_WORKER_METRICS_PORT", "70000", "LEADWIRE_WORKER_METRICS_PORT:"),
    ],
)
def test_malformed_setting_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigurationError) as info:
        load_settings()
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_postgres_urls_are_normalized_to_asyncpg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADWIRE_DATABASE_URL", "postgresql://u@h:5432/d")
    assert load_settings().database_url == "postgresql+asyncpg://u@h:5432/d"


def test_require_names_the_missing_setting() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ConfigurationError, match=r"^LEADWIRE_DATABASE_URL is not set$"):
        settings.require("database_url")


def test_twilio_mode_requires_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADWIRE_TELEPHONY", "twilio")
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    settings = load_settings()
    with pytest.raises(ConfigurationError, match=r"^TWILIO_ACCOUNT_SID is not set"):
        settings.require()


def test_simulated_carrier_has_a_signing_token_without_twilio() -> None:
    settings = Settings(secret_key="k" * 40, _env_file=None)  # type: ignore[arg-type, call-arg]
    assert len(settings.twilio_signing_token) == 64
    other = Settings(secret_key="j" * 40, _env_file=None)  # type: ignore[arg-type, call-arg]
    assert settings.twilio_signing_token != other.twilio_signing_token
