"""Zapier ("Webhooks by Zapier" POST or Custom Request; integrations.md section 5.1).

Authentication: `Authorization: Bearer <sources.zapier.secret>`, or a Standard Webhooks
signature made with the same secret (see `_security`). Zapier signs nothing by itself.

Payload: the generic lead body (see `_generic`): JSON object, JSON array of objects ("Wrap
Request In Array"), or form fields; common field names mapped, unknown keys kept.
"""

from __future__ import annotations

from datetime import datetime

from leadwire.leads.adapters._generic import generic_leads, generic_records
from leadwire.leads.adapters._security import verify_source_secret
from leadwire.leads.adapters.base import Acknowledgement, InboundRequest
from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials
from leadwire.leads.canonical import InboundLead
from leadwire.platform.errors import BadSignature, LeadwireError

__all__ = ["ADAPTER", "ZapierAdapter"]


class ZapierAdapter:
    source = "zapier"
    settings_key = "zapier"
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
        secret = credentials.secret if credentials else None
        if secret is None or not secret.get_secret_value():
            raise BadSignature("no Zapier secret is configured")
        verify_source_secret(
            request.headers, request.body, secret=secret.get_secret_value(), now=now or request.now
        )

    def parse(self, request: InboundRequest) -> list[InboundLead]:
        records, is_array = generic_records(request)
        return generic_leads(request, source=self.source, records=records, is_array=is_array)

    def acknowledgement(self) -> Acknowledgement | None:
        return None

    def error_response(self, error: LeadwireError) -> Acknowledgement | None:
        return None


ADAPTER = ZapierAdapter()
