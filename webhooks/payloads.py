"""What a delivery POSTs: `{"id", "type", "created_at", "data"}` as compact JSON, signed
`X-FlipTech-Signature: sha256=<hex HMAC-SHA256 of the body with the endpoint's secret>`.

The body is built when the delivery is sent, from the rows it names (so an address erased
since the event is not sent out); `id` (the event id) and `created_at` (the event's time)
never change between attempts.
"""

import hashlib
import hmac
import json

from .models import EventType, WebhookDelivery

SIGNATURE_HEADER = "X-FlipTech-Signature"
USER_AGENT = "FlipTech-Webhooks/1.0"


def data_of(delivery: WebhookDelivery) -> dict:
    """`data`: the campaign (`campaign_id`, `id`); for message events the recipient
    (`recipient_id`, `email_address`, `step` — 0, the first message — and `url` for a click);
    for a status change `status` and `previous_status`."""
    campaign = delivery.campaign
    data = {"campaign_id": campaign.campaign_id if campaign else None, "id": delivery.campaign_id}
    if delivery.type == EventType.CAMPAIGN_STATUS_CHANGED:
        return {**data, **delivery.extra}
    recipient = delivery.recipient
    data.update(
        recipient_id=delivery.recipient_id,
        email_address=recipient.email_address if recipient else None,
        step=0,
    )
    if delivery.type == EventType.MESSAGE_CLICKED:
        data["url"] = delivery.url
    return data


def body_of(delivery: WebhookDelivery) -> bytes:
    payload = {
        "id": delivery.event_id,
        "type": delivery.type,
        "created_at": delivery.created_at.isoformat().replace("+00:00", "Z"),
        "data": data_of(delivery),
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers_of(delivery: WebhookDelivery, body: bytes) -> dict:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: signature(body, delivery.endpoint.secret),
        "X-FlipTech-Event": delivery.type,
        "X-FlipTech-Event-Id": delivery.event_id,
        "X-FlipTech-Delivery": str(delivery.pk),
    }
