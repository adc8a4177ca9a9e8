"""`X-Twilio-Signature`: validation for Twilio's requests, and signing for the simulated carrier.

Twilio signs the URL it requested (scheme, host, path, raw query) followed by the sorted POST
parameters, with HMAC-SHA1 under the account's Auth Token (reference/integrations.md §6.3).
Behind a proxy the app never sees that URL, so it is rebuilt from `LEADWIRE_PUBLIC_URL` with
the builders of `urls.py`. Validation and signing both go through twilio's `RequestValidator`,
so the simulated carrier signs exactly as Twilio does.

Several tokens may be accepted at once: around an Auth Token promotion, Twilio may still sign
with the old primary for a short while.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from twilio.request_validator import RequestValidator

from leadwire.telephony.errors import BadTwilioSignature
from leadwire.telephony.urls import public_url, websocket_url

SIGNATURE_HEADER = "X-Twilio-Signature"

# A form as Starlette's FormData.multi_items() gives it, or a plain mapping.
FormParams = Mapping[str, str] | Iterable[tuple[str, str]]


class _MultiParams(dict[str, list[str]]):
    """Repeated form keys kept whole; `RequestValidator` reads them through `getlist`."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def _params(form: FormParams) -> _MultiParams:
    items = form.items() if isinstance(form, Mapping) else form
    params = _MultiParams()
    for name, value in items:
        params.setdefault(name, []).append(value)
    return params


def sign(*, auth_token: str, url: str, params: FormParams = ()) -> str:
    """The `X-Twilio-Signature` Twilio would send for a form POST (or a GET when no params)."""
    signature: str = RequestValidator(auth_token).compute_signature(url, _params(params))
    return signature


def is_valid(
    *, auth_tokens: Sequence[str], url: str, params: FormParams, signature: str | None
) -> bool:
    """True when any token signs `url` + `params` to `signature` (ports :443/:80 tolerated)."""
    if not signature:
        return False
    form = _params(params)
    return any(
        bool(RequestValidator(token).validate(url, form, signature))
        for token in auth_tokens
        if token
    )


def verify_form_request(
    *,
    auth_tokens: Sequence[str],
    public_base_url: str,
    path: str,
    query: str,
    params: FormParams,
    signature: str | None,
) -> None:
    """Raise `BadTwilioSignature` unless a form POST (or GET) to `path` is signed by Twilio."""
    url = public_url(public_base_url, path, query)
    if not is_valid(auth_tokens=auth_tokens, url=url, params=params, signature=signature):
        raise BadTwilioSignature("X-Twilio-Signature does not match the request")


def verify_websocket_handshake(
    *,
    auth_tokens: Sequence[str],
    public_base_url: str,
    path: str,
    query: str,
    signature: str | None,
) -> None:
    """Raise `BadTwilioSignature` unless the ConversationRelay handshake is signed by Twilio.

    Twilio signs the ``wss://`` URL given in the TwiML, with no parameters. Which form it signs
    is UNVERIFIED in the reference, so the ``https://`` form is accepted too.
    """
    candidates = (
        websocket_url(public_base_url, path, query),
        public_url(public_base_url, path, query),
    )
    if not any(
        is_valid(auth_tokens=auth_tokens, url=url, params=(), signature=signature)
        for url in candidates
    ):
        raise BadTwilioSignature("X-Twilio-Signature does not match the handshake")
