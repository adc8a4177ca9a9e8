"""Small typed readers for provider JSON, raising 422s that name the field."""

from __future__ import annotations

import re
from typing import Any

from pydantic import JsonValue

from leadwire.platform.errors import InvalidPayload

__all__ = ["as_list", "as_object", "digits_id", "optional_digits_id", "optional_text"]

_DIGITS = re.compile(r"^[0-9]{1,32}$")


def as_object(value: Any, *, field: str) -> dict[str, JsonValue]:
    if not isinstance(value, dict):
        raise InvalidPayload("must be an object", field=field or "body")
    return value


def as_list(value: Any, *, field: str) -> list[JsonValue]:
    if not isinstance(value, list):
        raise InvalidPayload("must be an array", field=field or "body")
    return value


def optional_digits_id(value: Any, *, field: str) -> str | None:
    """A numeric provider id (Meta, HubSpot, Google int64) as a string.

    Ids arrive as JSON strings or JSON integers; Python reads JSON integers exactly, so the
    digits are never rounded through a float. A JSON float (`1.5e17`) is refused rather than
    guessed at.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidPayload("must be a numeric id", field=field)
    if isinstance(value, int):
        if value < 0:
            raise InvalidPayload("must be a numeric id", field=field)
        text = str(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
    else:
        raise InvalidPayload("must be a numeric id", field=field)
    if not _DIGITS.match(text):
        raise InvalidPayload("must be a numeric id", field=field)
    return text


def digits_id(value: Any, *, field: str) -> str:
    text = optional_digits_id(value, field=field)
    if text is None:
        raise InvalidPayload("is required", field=field)
    return text


def optional_text(value: Any, *, field: str, max_length: int = 500) -> str | None:
    """A string (numbers accepted as their text), trimmed; None when empty."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidPayload("must be a string", field=field)
    text = str(value).strip()
    if len(text) > max_length:
        raise InvalidPayload(f"must be at most {max_length} characters", field=field)
    return text or None
