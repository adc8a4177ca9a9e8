"""Reading request bodies into plain data, with the errors the contract asks for.

Wrong content type -> `UnsupportedMediaType` (415); bytes that do not decode or parse ->
`BadRequest` (400). JSON numbers stay exact: integers never go through float, and the
non-standard constants (`NaN`, `Infinity`) are refused so everything read is storable JSON.
"""

from __future__ import annotations

import codecs
import email.parser
import email.policy
import json
from typing import Any
from urllib.parse import parse_qsl

from pydantic import JsonValue

from leadwire.leads.adapters.base import InboundRequest
from leadwire.platform.errors import BadRequest, UnsupportedMediaType

__all__ = [
    "FORM_MEDIA_TYPES",
    "FormData",
    "decode_text",
    "is_json_media_type",
    "loads_json",
    "read_form",
    "read_json",
]

FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_MAX_FORM_FIELDS = 1_000

FormData = dict[str, str | list[str]]


def is_json_media_type(media_type: str | None) -> bool:
    return media_type is not None and (
        media_type == "application/json" or media_type.endswith("+json")
    )


def decode_text(body: bytes, charset: str | None) -> str:
    name = charset or "utf-8"
    try:
        codec = codecs.lookup(name)
    except LookupError as exc:
        raise UnsupportedMediaType(f"unsupported charset {name!r}") from exc
    if codec.name == "utf-8":
        name = "utf-8-sig"  # a leading byte-order mark is tolerated, not part of the data
    try:
        return body.decode(name)
    except UnicodeDecodeError as exc:
        raise BadRequest(f"body is not valid {codec.name}") from exc


def _no_constants(value: str) -> Any:
    raise ValueError(f"{value} is not JSON")


def loads_json(text: str) -> JsonValue:
    if not text.strip():
        raise BadRequest("body is empty")
    try:
        data: JsonValue = json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError and integers past Python's digit limit;
        # RecursionError covers absurdly deep nesting.
        raise BadRequest("body is not valid JSON") from exc
    return data


def read_json(request: InboundRequest, *, missing_type_ok: bool = True) -> JsonValue:
    """The body as JSON; a missing Content-Type is accepted for JSON-only providers."""
    media_type = request.media_type
    if media_type is None and not missing_type_ok:
        raise UnsupportedMediaType("Content-Type is required")
    if media_type is not None and not is_json_media_type(media_type):
        raise UnsupportedMediaType(f"expected application/json, got {media_type}")
    return loads_json(decode_text(request.body, request.charset))


def _add(data: FormData, name: str, value: str) -> None:
    if name in data:
        current = data[name]
        data[name] = [*current, value] if isinstance(current, list) else [current, value]
    else:
        data[name] = value


def _read_urlencoded(request: InboundRequest) -> FormData:
    text = decode_text(request.body, request.charset)
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FORM_FIELDS)
    except ValueError as exc:
        raise BadRequest("too many form fields") from exc
    data: FormData = {}
    for name, value in pairs:
        _add(data, name, value)
    return data


def _read_multipart(request: InboundRequest) -> FormData:
    content_type = request.content_type or ""
    if "boundary=" not in content_type.lower():
        raise BadRequest("multipart body without a boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode(errors="replace")
    data: FormData = {}
    try:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
        if not message.is_multipart():
            raise BadRequest("multipart body has no parts")
        for count, part in enumerate(message.iter_parts()):
            if count >= _MAX_FORM_FIELDS:
                raise BadRequest("too many form fields")
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str) or part.get_filename() is not None:
                continue  # unnamed parts and file uploads carry no lead fields
            payload = part.get_payload(decode=True)
            if not isinstance(payload, bytes):
                continue
            _add(data, name, decode_text(payload, part.get_content_charset()))
    except (BadRequest, UnsupportedMediaType):
        raise
    except Exception as exc:
        # The stdlib MIME parser's failure modes on hostile input are not a closed set; any of
        # them means the same thing to the sender: the body could not be read.
        raise BadRequest("multipart body could not be parsed") from exc
    return data


def read_form(request: InboundRequest) -> FormData:
    """`application/x-www-form-urlencoded` or `multipart/form-data` fields; a repeated field
    (checkbox group) becomes a list. File uploads are ignored."""
    media_type = request.media_type
    if media_type == "application/x-www-form-urlencoded":
        return _read_urlencoded(request)
    if media_type == "multipart/form-data":
        return _read_multipart(request)
    raise UnsupportedMediaType(f"expected a form body, got {media_type}")
