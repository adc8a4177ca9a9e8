"""Request bodies of the compliance routes, and phone-number validation for them."""

from __future__ import annotations

import phonenumbers
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from leadwire.compliance.locate import location_tables, normalize_state
from leadwire.platform.errors import InvalidPayload


class InvalidPhone(InvalidPayload):
    code = "invalid_phone"


def parse_phone(raw: str, *, region: str = "US", field: str = "phone") -> str:
    """A valid phone number (E.164, or national for `region`) as E.164; 422 naming `field`."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        raise InvalidPhone(f"{field}: not a phone number", field=field) from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhone(f"{field}: not a valid phone number", field=field)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_digits(e164: str, *, field: str = "phone") -> int:
    """`+15125550100` -> 15125550100, the key of every compliance table."""
    digits = e164[1:] if e164.startswith("+") else ""
    if not (8 <= len(digits) <= 15 and digits.isdigit() and digits.isascii()):
        raise InvalidPhone(f"{field}: expected an E.164 number like +15125550100", field=field)
    return int(digits)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DncAdd(_Strict):
    """`POST /v1/dnc`: put a number on the tenant's Do-Not-Call list."""

    phone: str = Field(min_length=1, max_length=64, examples=["+15125550100"])


class ConsentIn(BaseModel):
    """A consent record shaped as on the lead (CONTRACT.md section 5); other keys are kept."""

    model_config = ConfigDict(extra="allow", str_strip_whitespace=True)

    granted: bool | None = None
    text: str | None = Field(default=None, max_length=10_000)
    timestamp: AwareDatetime | None = None
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=2_000)
    page_url: str | None = Field(default=None, max_length=4_000)
    seller_names: list[str] | None = None
    phone: str | None = Field(default=None, max_length=64)


class CheckRequest(_Strict):
    """`POST /v1/compliance/check`: the gate as a dry run for a number, now or at `at`."""

    phone: str = Field(min_length=1, max_length=64, examples=["+15125550100"])
    consent: ConsentIn | None = None
    state: str | None = Field(default=None, max_length=40, examples=["FL"])
    postal_code: str | None = Field(default=None, max_length=10, examples=["32501"])
    at: AwareDatetime | None = Field(
        default=None, description="RFC 3339 instant to decide for (default: now)"
    )

    @field_validator("state")
    @classmethod
    def _state(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        code = normalize_state(value)
        if code is None:
            raise ValueError("not a US state (two-letter code or name)")
        return code

    @field_validator("postal_code")
    @classmethod
    def _postal_code(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if location_tables().zip_lookup(value) is None:
            raise ValueError("not a known US ZIP code (12345 or 12345-6789)")
        return value
