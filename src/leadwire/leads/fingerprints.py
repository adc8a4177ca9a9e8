"""`purge_fingerprints`: forget fingerprints whose dedupe window has passed.

`leadwire_ingest` (migration 0410) takes over an expired row by itself, so an expired row is
never wrong, only dead weight: one per unique lead without a natural key. This hourly cron
(queue `maintenance`) deletes them in batches, so the table holds about a day of leads.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

from leadwire.leads.repository import FINGERPRINT_WINDOW
from leadwire.platform.state import AppState

__all__ = ["CRON", "purge_fingerprints"]

log = logging.getLogger("leadwire.leads")

CRON = "17 * * * *"
BATCH = 5_000

_PURGE = text(
    "DELETE FROM lead_fingerprints WHERE ctid = ANY(ARRAY("
    "SELECT ctid FROM lead_fingerprints WHERE received_at + CAST(:window AS interval) <= now()"
    " LIMIT :batch))"
)


async def purge_fingerprints(ctx: dict[str, Any]) -> int:
    state: AppState = ctx["state"]
    purged = 0
    while True:
        async with state.engine.begin() as conn:
            result = await conn.execute(_PURGE, {"window": FINGERPRINT_WINDOW, "batch": BATCH})
        purged += result.rowcount
        if result.rowcount < BATCH:
            break
    if purged:
        log.info("purged expired lead fingerprints", extra={"purged": purged})
    return purged
