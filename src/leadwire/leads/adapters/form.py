"""Website forms (integrations.md section 5.2).

Authentication, in order:

1. a request presenting a bearer secret or Standard Webhooks headers (a server-side form
   backend) must verify against `sources.form.secret` exactly as Zapier's does; a failed
   attempt is refused even on a public form (no fallback to the unsigned path);
2. otherwise, only when the tenant set `"public": true`, an unsigned browser post is accepted
   when its `Origin` header is one of `allowed_origins` (compared as scheme://host[:port],
   case-insensitive, default ports dropped; a missing or `null` Origin is refused) and its
   honeypot field `_hp` is absent or empty. Forms embed `<input name="_hp" type="text"
   tabindex="-1" autocomplete="off" style="display:none">`: people never fill it, naive bots do.
   A filled honeypot raises `HoneypotFilled` (a `BadSignature`: 401, nothing stored). Per-IP
   abuse limits for this path are the intake's (rate-limit layer), not this module's.

Payload: the generic lead body (see `_generic`). The honeypot and common CAPTCHA tokens are
dropped; consent evidence is completed from the request itself (client IP, User-Agent, Referer
as the page URL, arrival time) when the form sent any consent field.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from leadwire.leads.adapters._generic import generic_leads, generic_records
from leadwire.leads.adapters._security import attempts_authentication, verify_source_secret
from leadwire.leads.adapters.base import Acknowledgement, InboundRequest
from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials
from leadwire.leads.canonical import InboundLead
from leadwire.platform.errors import BadSignature, LeadwireError

__all__ = ["ADAPTER", "HONEYPOT_FIELD", "FormAdapter", "HoneypotFilled", "normalize_origin"]

HONEYPOT_FIELD = "_hp"
_DROPPED = frozenset(
    {
        HONEYPOT_FIELD,
        "g-recaptcha-response",
        "h-captcha-response",
        "cf-turnstile-response",
        "csrfmiddlewaretoken",
        "_token",
    }
)
_DEFAULT_PORTS = {"http": 80, "https": 443}


class HoneypotFilled(BadSignature):
    code = "honeypot_filled"


def normalize_origin(value: str) -> str | None:
    """`scheme://host[:port]` in lower case without a default port, or None if it is not an
    http(s) origin. Paths are ignored, so a configured `https://example.com/` matches."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _honeypot_filled(value: object) -> bool:
    if isinstance(value, list):
        return any(_honeypot_filled(item) for item in value)
    if isinstance(value, str):
        return bool(value.strip())
    return value is not None and value is not False


class FormAdapter:
    source = "form"
    settings_key = "form"
    app_level = False
    tenant_hint_kind = None
    platform_signed = False

    def tenant_hints(self, request: InboundRequest) -> list[str]:
        return []

    def verify(
        self,
        request: InboundRequest,
        *,
        credentials: SourceCredentials | None,
        platform: PlatformSecrets,
        now: datetime | None = None,
    ) -> None:
        if credentials is None:
            raise BadSignature("the form source is not configured")
        secret = credentials.secret.get_secret_value() if credentials.secret else ""
        if secret and attempts_authentication(request.headers):
            verify_source_secret(
                request.headers, request.body, secret=secret, now=now or request.now
            )
            return
        if not credentials.public:
            raise BadSignature("missing bearer secret or Standard Webhooks signature")
        self._verify_public(request, credentials)

    @staticmethod
    def _verify_public(request: InboundRequest, credentials: SourceCredentials) -> None:
        origin = normalize_origin(request.headers.get("origin") or "")
        allowed = {normalize_origin(o) for o in credentials.allowed_origins} - {None}
        if origin is None or origin not in allowed:
            raise BadSignature("unsigned form post from an origin that is not allowed")
        # A body that cannot be read raises its own 400/415/422 here: nothing is stored either
        # way, and the browser's user learns what is wrong.
        records, _ = generic_records(request)
        if any(_honeypot_filled(record.get(HONEYPOT_FIELD)) for record in records):
            raise HoneypotFilled("form honeypot field is filled")

    def parse(self, request: InboundRequest) -> list[InboundLead]:
        records, is_array = generic_records(request)
        return generic_leads(
            request,
            source=self.source,
            records=records,
            is_array=is_array,
            drop_keys=_DROPPED,
            request_evidence=True,
        )

    def acknowledgement(self) -> Acknowledgement | None:
        return None

    def error_response(self, error: LeadwireError) -> Acknowledgement | None:
        return None


ADAPTER = FormAdapter()
