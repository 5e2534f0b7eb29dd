"""Provider webhooks: anymail's `tracking` signal → `event_record`.

Each provider event maps to one of our events:

=========================  =====================================
anymail event_type         our event
=========================  =====================================
bounced, rejected          bounce, ``bounce_type: hard`` (suppressed)
deferred                   bounce, ``bounce_type: soft`` (event only)
complained                 complain (suppressed)
delivered                  delivered
opened                     open
clicked                    click
unsubscribed               unsubscribe (suppressed)
anything else              ignored (queued, sent, failed, unknown …)
=========================  =====================================

The recipient is found by a Message-ID the sender stored (the first message's or a follow-up's; angle brackets ignored; for
Amazon SES the original ``Message-ID`` header in ``mail.commonHeaders``, since SES's own
``messageId`` differs), else by the ``token``/``recipient_token`` metadata the sender
attaches. The provider's event id (or, when it sends none, a hash of the payload) becomes
``provider_event_id``, so a replayed webhook changes nothing. The work is a few indexed
queries per event; nothing slow happens in the request.
"""

import hashlib
import json
import logging

from django.db.models import Q

from campaigns.models import CampaignRecipient, RecipientMessage

from . import services
from .models import EmailTracking

log = logging.getLogger(__name__)
EventType = EmailTracking.EventType

# anymail event_type → (our event type, extra event_data)
EVENT_MAP = {
    "bounced": (EventType.BOUNCE, {"bounce_type": "hard"}),
    "rejected": (EventType.BOUNCE, {"bounce_type": "hard"}),
    "deferred": (EventType.BOUNCE, {"bounce_type": "soft"}),
    "complained": (EventType.COMPLAIN, {}),
    "delivered": (EventType.DELIVERED, {}),
    "opened": (EventType.OPEN, {}),
    "clicked": (EventType.CLICK, {}),
    "unsubscribed": (EventType.UNSUBSCRIBE, {}),
}


def bare_message_id(value) -> str:
    return str(value or "").strip().strip("<>").strip()


def _message_ids(event) -> list[str]:
    ids = [bare_message_id(event.message_id)]
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    mail = esp_event.get("mail") if isinstance(esp_event.get("mail"), dict) else {}
    ids.append(bare_message_id((mail.get("commonHeaders") or {}).get("messageId")))
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            ids.append(bare_message_id(header.get("value")))
    return [i for i in dict.fromkeys(ids) if i]


def followup_recipient_ids(message_ids) -> list[int]:
    """The recipients of the follow-ups with these Message-IDs (any step after the first)."""
    wanted = [form for mid in message_ids for form in (mid, f"<{mid}>")]
    if not wanted:
        return []
    return list(RecipientMessage.objects.filter(message_id__in=wanted).values_list("recipient_id", flat=True)[:10])


def find_recipient(event) -> CampaignRecipient | None:
    metadata = event.metadata if isinstance(event.metadata, dict) else {}
    token = metadata.get("token") or metadata.get("recipient_token")
    query = Q()
    for mid in _message_ids(event):
        query |= Q(message_id__in=[mid, f"<{mid}>"])
    if token:
        query |= Q(token=str(token)[:64])
    if not query:
        return None
    followup = followup_recipient_ids(_message_ids(event))
    if followup:
        query |= Q(pk__in=followup)
    candidates = list(CampaignRecipient.objects.select_related("campaign").filter(query)[:10])
    if len(candidates) > 1 and event.recipient:
        wanted = event.recipient.strip().lower()
        candidates = [c for c in candidates if c.email_address.lower() == wanted] or candidates
    return candidates[0] if candidates else None


def _provider_event_id(event, esp_name) -> str:
    if event.event_id:
        raw = f"{esp_name}:{event.event_id}:{event.event_type}:{(event.recipient or '').lower()}"
    else:
        payload = json.dumps(event.esp_event, sort_keys=True, default=str)
        raw = f"{esp_name}:{event.event_type}:" + hashlib.sha256(payload.encode()).hexdigest()
    if len(raw) > 255:
        raw = f"{esp_name[:40]}:sha256:" + hashlib.sha256(raw.encode()).hexdigest()
    return raw


def _bounce_type(event, default: str) -> str:
    """Anymail reports every SES and Postmark bounce as `bounced`; their payloads say
    whether it was permanent. Transient/soft ones are soft bounces (not suppressed)."""
    esp_event = event.esp_event if isinstance(event.esp_event, dict) else {}
    ses_type = (esp_event.get("bounce") or {}).get("bounceType") if isinstance(esp_event.get("bounce"), dict) else None
    if ses_type in ("Transient", "Undetermined"):
        return "soft"
    if esp_event.get("RecordType") == "Bounce" and esp_event.get("Type") in ("SoftBounce", "Transient", "DnsError"):
        return "soft"
    return default


def handle_tracking(sender, event, esp_name, **kwargs):
    """Receiver for `anymail.signals.tracking`."""
    mapped = EVENT_MAP.get(event.event_type)
    if mapped is None:
        return
    recipient = find_recipient(event)
    if recipient is None:
        log.info("%s %s webhook for an unknown message %r ignored", esp_name, event.event_type, event.message_id)
        return
    event_type, extra = mapped
    data = {
        "provider": esp_name,
        "provider_event_type": event.event_type,
        **extra,
    }
    reason = event.mta_response or event.description or event.reject_reason
    if "bounce_type" in data:
        data["bounce_type"] = _bounce_type(event, data["bounce_type"])
    if reason:
        data["reason"] = str(reason)[:1000]
    if event.reject_reason:
        data["reject_reason"] = event.reject_reason
    if event.timestamp:
        data["provider_timestamp"] = event.timestamp.isoformat()
    services.event_record(
        recipient=recipient,
        event_type=event_type,
        event_data=data,
        user_agent=event.user_agent or "",
        url=event.click_url or "",
        provider_event_id=_provider_event_id(event, esp_name),
    )
