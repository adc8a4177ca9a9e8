"""Standard Webhooks headers made with the reference library (`standardwebhooks`)."""

from __future__ import annotations

from datetime import datetime

from standardwebhooks import Webhook

from tests.leads.helpers import NOW


def std_headers(
    secret: str, body: bytes, *, msg_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", at: datetime = NOW
) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body.decode())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
