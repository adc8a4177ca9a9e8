"""What every lead source adapter is: the request it reads, and the protocol it implements.

An adapter is pure: it gets an `InboundRequest` (built by the route from the raw request) and
answers with hints, a verification verdict (an exception or nothing) and canonical leads. The
intake pipeline does the I/O around it:

    adapter = adapter_for(source)                    # registry; 404 on an unknown source
    # tenant-scoped endpoint: the slug names the tenant
    adapter.verify(request, credentials=tenant_block, platform=secrets)      # 401
    leads = adapter.parse(request)                   # 400 / 415 / 422
    # app-level endpoint, adapter.platform_signed (Meta, HubSpot):
    adapter.verify(request, credentials=None, platform=secrets)
    leads = adapter.parse(request)                   # route each lead by lead.tenant_hint
    # app-level endpoint, otherwise (Salesforce, Google Ads):
    hint = adapter.tenant_hints(request)             # resolve the tenant, 404 when unknown
    adapter.verify(request, credentials=tenant_block, platform=secrets)
    leads = adapter.parse(request)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials
from leadwire.leads.canonical import InboundLead
from leadwire.platform.errors import LeadwireError

__all__ = [
    "Acknowledgement",
    "Headers",
    "InboundRequest",
    "LeadSourceAdapter",
]


class Headers(Mapping[str, str]):
    """Immutable, case-insensitive request headers. A repeated header keeps its first value:
    signature headers must not be ambiguous, and the first one is what a proxy saw first."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        store: dict[str, str] = {}
        for name, value in pairs:
            store.setdefault(name.lower(), value)
        self._items = store

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        # Header values can be secrets (Authorization); show names only.
        return f"Headers({sorted(self._items)!r})"


@dataclass(frozen=True, slots=True)
class InboundRequest:
    """One webhook delivery as the provider made it.

    `url` is the full public URL the provider called (scheme, host, path and query in their
    original order; behind a proxy, `LEADWIRE_PUBLIC_URL` + path + query), because HubSpot signs
    it. `body` is the raw bytes: every signature is computed over them, never over re-serialized
    JSON. `headers` may be any mapping; it is stored as case-insensitive `Headers`. `content_type`
    defaults to the Content-Type header. `now` is when it arrived (timezone-aware).
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes
    now: datetime
    client_ip: str | None = None
    content_type: str | None = None

    def __post_init__(self) -> None:
        if self.now.tzinfo is None or self.now.utcoffset() is None:
            # Replay windows compare with Unix timestamps; a naive time would be read as local.
            raise ValueError("InboundRequest.now must be timezone-aware")
        if not isinstance(self.headers, Headers):
            object.__setattr__(self, "headers", Headers(self.headers))
        if self.content_type is None:
            object.__setattr__(self, "content_type", self.headers.get("content-type"))

    @property
    def media_type(self) -> str | None:
        """The content type without parameters, lower-cased (`application/json`)."""
        if not self.content_type:
            return None
        return self.content_type.split(";", 1)[0].strip().lower() or None

    @property
    def charset(self) -> str | None:
        if not self.content_type:
            return None
        for param in self.content_type.split(";")[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset":
                return value.strip().strip('"').lower() or None
        return None


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A response body a provider requires instead of Leadwire's JSON (Salesforce's SOAP Ack)."""

    status_code: int
    media_type: str
    body: bytes


@runtime_checkable
class LeadSourceAdapter(Protocol):
    """One lead source. Implementations are stateless singletons registered in `registry`.

    Attributes:
        source: the URL name (`meta`, `google-ads`, ...), also each lead's `source`.
        settings_key: the key of its block under the tenant's `sources` settings
            (`google_ads` for `google-ads`).
        app_level: whether `POST /v1/webhooks/{source}` (tenant resolved from the payload)
            exists for it; Zapier and forms are tenant-scoped only.
        tenant_hint_kind: what `tenant_hints` values are (`page_id`, `portal_id`,
            `organization_id`, `google_key_sha256`), i.e. which setting resolves the tenant.
        platform_signed: at the app-level endpoint the delivery is signed with the platform's
            app secret (Meta, HubSpot): verify once with `credentials=None`, then parse and
            route each lead by its `tenant_hint` (a batch may span tenants). When False
            (Salesforce, Google Ads), resolve the tenant from `tenant_hints` first and verify
            with that tenant's credentials.
    """

    @property
    def source(self) -> str: ...

    @property
    def settings_key(self) -> str: ...

    @property
    def app_level(self) -> bool: ...

    @property
    def tenant_hint_kind(self) -> str | None: ...

    @property
    def platform_signed(self) -> bool: ...

    def tenant_hints(self, request: InboundRequest) -> list[str]:
        """Distinct tenant lookup values in the delivery, in order of appearance; [] when none
        can be read (the intake then answers 404 unknown tenant). Never raises."""
        ...

    def verify(
        self,
        request: InboundRequest,
        *,
        credentials: SourceCredentials | None,
        platform: PlatformSecrets,
        now: datetime | None = None,
    ) -> None:
        """Raise `BadSignature` unless the delivery is authentic for these credentials.

        `credentials` is the tenant's `sources.<settings_key>` block, or None at an app-level
        endpoint before a tenant is known (Meta and HubSpot then use the platform's app secret).
        `now` defaults to `request.now`.
        """
        ...

    def parse(self, request: InboundRequest) -> list[InboundLead]:
        """Every lead in the delivery (possibly none). Raises `BadRequest` (unparseable),
        `UnsupportedMediaType` (wrong content type) or `InvalidPayload` (naming the field)."""
        ...

    def acknowledgement(self) -> Acknowledgement | None:
        """The body to answer a stored delivery with, or None for Leadwire's JSON."""
        ...

    def error_response(self, error: LeadwireError) -> Acknowledgement | None:
        """The body to answer an error with, or None for Leadwire's JSON error shape."""
        ...
