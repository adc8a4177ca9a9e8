"""Meta (Facebook / Instagram) Lead Ads: the `leadgen` Page webhook (integrations.md section 1).

* Handshake: `GET ?hub.mode=subscribe&hub.challenge=...&hub.verify_token=...` -> echo the
  challenge (`meta_handshake`).
* Signature: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body, keyed with the app
  secret>`. The key is the tenant's own `app_secret` when it configured one, else the platform's
  (`LEADWIRE_META_APP_SECRET`). At a tenant-scoped endpoint every page in the delivery must be
  one of the tenant's `page_ids` (when it lists any), so one tenant's URL cannot take another
  tenant's pages.
* Payload: `entry[].changes[]` with `field == "leadgen"`, several per POST, across pages. It
  carries ids only: every lead `needs_fetch` (Graph `GET /v25.0/{leadgen_id}`, see
  `leads.fetchers.fetch_meta_lead`). Ids may be JSON strings or numbers and are kept as digit
  strings. Changes for other fields are ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime

from pydantic import JsonValue

from leadwire.leads.adapters._bodies import read_json
from leadwire.leads.adapters._json import as_list, as_object, digits_id, optional_digits_id
from leadwire.leads.adapters._security import equal
from leadwire.leads.adapters.base import Acknowledgement, InboundRequest
from leadwire.leads.adapters.credentials import PlatformSecrets, SourceCredentials
from leadwire.leads.canonical import InboundLead
from leadwire.platform.errors import BadSignature, Forbidden, LeadwireError

__all__ = ["ADAPTER", "SIGNATURE_HEADER", "MetaAdapter", "meta_handshake", "meta_signature"]

SIGNATURE_HEADER = "X-Hub-Signature-256"
_CHALLENGE = re.compile(r"^[\x21-\x7e]{1,512}$")  # printable ASCII, echoed as text/plain


def meta_handshake(params: Mapping[str, str], verify_token: str | None) -> str:
    """The body to answer Meta's verification GET with (the challenge), or `Forbidden`.

    `params` are the query parameters by their exact dotted names (`hub.mode`, ...);
    `verify_token` is the tenant's `verify_token` or the platform's `LEADWIRE_META_VERIFY_TOKEN`.
    """
    mode = params.get("hub.mode")
    token = params.get("hub.verify_token")
    challenge = params.get("hub.challenge")
    if not verify_token:
        raise Forbidden("no Meta verify token is configured")
    if mode != "subscribe" or not token or not equal(token, verify_token):
        raise Forbidden("Meta verification failed")
    if not challenge or not _CHALLENGE.match(challenge):
        raise Forbidden("Meta verification failed: malformed hub.challenge")
    return challenge


def meta_signature(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body`."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _page_ids(data: JsonValue) -> list[str]:
    """Page ids of the leadgen changes, in order, without duplicates; tolerant of junk."""
    pages: list[str] = []
    entries = data.get("entry") if isinstance(data, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(changes, list):
            continue
        for change in changes:
            if not isinstance(change, dict) or change.get("field") != "leadgen":
                continue
            value = change.get("value")
            page = value.get("page_id") if isinstance(value, dict) else None
            for candidate in (page, entry.get("id")):
                try:
                    text = optional_digits_id(candidate, field="page_id")
                except LeadwireError:
                    continue
                if text is not None:
                    if text not in pages:
                        pages.append(text)
                    break
    return pages


class MetaAdapter:
    source = "meta"
    settings_key = "meta"
    app_level = True
    tenant_hint_kind = "page_id"
    platform_signed = True

    def tenant_hints(self, request: InboundRequest) -> list[str]:
        try:
            return _page_ids(read_json(request))
        except LeadwireError:
            return []

    def verify(
        self,
        request: InboundRequest,
        *,
        credentials: SourceCredentials | None,
        platform: PlatformSecrets,
        now: datetime | None = None,
    ) -> None:
        own = credentials.app_secret if credentials else None
        secret = own if own and own.get_secret_value() else platform.meta_app_secret
        if secret is None or not secret.get_secret_value():
            raise BadSignature("no Meta app secret is configured")
        header = request.headers.get(SIGNATURE_HEADER)
        if not header or not header.startswith("sha256="):
            raise BadSignature(f"missing {SIGNATURE_HEADER}")
        expected = meta_signature(secret.get_secret_value(), request.body)
        if not equal(expected, "sha256=" + header.removeprefix("sha256=").strip().lower()):
            raise BadSignature(f"{SIGNATURE_HEADER} does not match the body")
        if credentials is not None and credentials.page_ids:
            foreign = [p for p in self.tenant_hints(request) if p not in credentials.page_ids]
            if foreign:
                raise BadSignature("the delivery names a page this tenant did not configure")

    def parse(self, request: InboundRequest) -> list[InboundLead]:
        data = as_object(read_json(request), field="")
        entries = as_list(data.get("entry"), field="entry")
        leads: list[InboundLead] = []
        for i, raw_entry in enumerate(entries):
            entry = as_object(raw_entry, field=f"entry[{i}]")
            changes = entry.get("changes")
            if changes is None:
                continue
            for j, raw_change in enumerate(as_list(changes, field=f"entry[{i}].changes")):
                where = f"entry[{i}].changes[{j}]"
                change = as_object(raw_change, field=where)
                if change.get("field") != "leadgen":
                    continue
                value = as_object(change.get("value"), field=f"{where}.value")
                leadgen_id = digits_id(value.get("leadgen_id"), field=f"{where}.value.leadgen_id")
                page_id = optional_digits_id(value.get("page_id"), field=f"{where}.value.page_id")
                page_id = page_id or digits_id(entry.get("id"), field=f"entry[{i}].id")
                form_id = optional_digits_id(value.get("form_id"), field=f"{where}.value.form_id")
                fetch_ref = {"leadgen_id": leadgen_id, "page_id": page_id}
                if form_id is not None:
                    fetch_ref["form_id"] = form_id
                leads.append(
                    InboundLead(
                        source=self.source,
                        natural_key=f"meta:{leadgen_id}",
                        external_id=leadgen_id,
                        needs_fetch=True,
                        fetch_ref=fetch_ref,
                        tenant_hint=page_id,
                        raw={"entry_id": entry.get("id"), "time": entry.get("time"), **change},
                    )
                )
        return leads

    def acknowledgement(self) -> Acknowledgement | None:
        return None

    def error_response(self, error: LeadwireError) -> Acknowledgement | None:
        return None


ADAPTER = MetaAdapter()
