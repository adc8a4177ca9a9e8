"""Which adapter serves `POST /v1/webhooks/{source}`.

Adding a source: write `adapters/<name>.py` exposing `ADAPTER` (a `LeadSourceAdapter`) and add
one line below.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from leadwire.leads.adapters import form, google_ads, hubspot, meta, salesforce, zapier
from leadwire.leads.adapters.base import LeadSourceAdapter
from leadwire.platform.errors import NotFound

__all__ = ["ADAPTERS", "UnknownSource", "adapter_for"]

ADAPTERS: Mapping[str, LeadSourceAdapter] = MappingProxyType(
    {
        "meta": meta.ADAPTER,
        "hubspot": hubspot.ADAPTER,
        "salesforce": salesforce.ADAPTER,
        "google-ads": google_ads.ADAPTER,
        "zapier": zapier.ADAPTER,
        "form": form.ADAPTER,
    }
)


class UnknownSource(NotFound):
    code = "unknown_source"


def adapter_for(source: str) -> LeadSourceAdapter:
    """The adapter for a URL source name; `UnknownSource` (404) otherwise."""
    try:
        return ADAPTERS[source]
    except KeyError:
        raise UnknownSource(f"unknown lead source {source!r}") from None
