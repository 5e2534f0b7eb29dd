"""Provider webhooks: anymail's `tracking` signal → `event_record`.

Each provider event maps to one of our events:

=========================  =====================================
anymail event_type         our event
=========================  =====================================
bounced, rejected          bounce, ``bounce_type: hard`` (suppressed), or ``soft`` when the
                           payload or the remote server's enhanced code says so
deferred                   bounce, ``bounce_type: soft`` (counts towards SOFT_BOUNCE_LIMIT)
complained                 complain (suppressed)
delivered                  delivered
opened                     open
clicked                    click
unsubscribed               unsubscribe (suppressed)
anything else              ignored (queued, sent, failed, unknown …)
=========================  =====================================

The recipient is found by a Message-ID the sender stored (the first message's or a follow-up's; angle brackets ignored; for
Amazon SES the original ``Message-ID`` header in ``mail.commonHeaders``, since SES's own
``messageId`` differs), by the provider's own id of the message the sender stored
(``provider_message_id``, a first message's or a follow-up's: anymail's ``message_id`` over an API backend, the relay's queue id
over SMTP), or by the ``token``/``recipient_token`` metadata the sender attaches (over SMTP
in each relay's custom-data header, `campaigns.sending.relays`). The provider's event id (or, when it sends none, a hash of the payload) becomes
``provider_event_id``, so a replayed webhook changes nothing. The work is a few indexed
queries per event; nothing slow happens in the request.
"""

import hashlib
import json
import logging

from django.db.models import Q

from campaigns import bounces
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


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _message_ids(event) -> list[str]:
    """The Message-IDs (ours) an event names: anymail's message_id, SES's original header,
    Postal's message."""
    ids = [bare_message_id(event.message_id)]
    esp_event = _dict(event.esp_event)
    mail = _dict(esp_event.get("mail"))
    ids.append(bare_message_id(_dict(mail.get("commonHeaders")).get("messageId")))
    for header in mail.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == "message-id":
            ids.append(bare_message_id(header.get("value")))
    payload = _dict(esp_event.get("payload"))
    for message in (payload.get("message"), payload.get("original_message")):
        ids.append(bare_message_id(_dict(message).get("message_id")))
    return [i for i in dict.fromkeys(ids) if i]


def _provider_ids(event) -> list[str]:
    """The provider's own ids of the message an event names: anymail's message_id (Postmark's
    MessageID, Resend's email_id, MailerSend's, Mailjet's, SES's …) and SendGrid's
    sg_message_id, whose part before the first dot is the id its SMTP relay answered."""
    ids = [str(event.message_id or "").strip()]
    sg_message_id = str(_dict(event.esp_event).get("sg_message_id") or "")
    ids += [sg_message_id, sg_message_id.partition(".")[0]]
    return [i[:255] for i in dict.fromkeys(ids) if i]


def followup_recipient_ids(message_ids, provider_ids=()) -> list[int]:
    """The recipients of the follow-ups with these Message-IDs or provider ids (any step
    after the first)."""
    wanted = [form for mid in message_ids for form in (mid, f"<{mid}>")]
    query = Q(message_id__in=wanted) if wanted else Q()
    if provider_ids:
        query |= Q(provider_message_id__in=list(provider_ids)) & ~Q(provider_message_id="")
    if not query:
        return []
    return list(RecipientMessage.objects.filter(query).values_list("recipient_id", flat=True)[:10])


def find_recipient(event) -> CampaignRecipient | None:
    """The recipient an event is about: by our Message-ID, the provider's id of the message
    (`provider_message_id`) or the token in the metadata the message carried."""
    metadata = _dict(event.metadata)
    token = metadata.get("token") or metadata.get("recipient_token")
    query = Q()
    for mid in _message_ids(event):
        query |= Q(message_id__in=[mid, f"<{mid}>"])
    provider_ids = _provider_ids(event)
    if provider_ids:
        query |= Q(provider_message_id__in=provider_ids) & ~Q(provider_message_id="")
    if token:
        query |= Q(token=str(token)[:64])
    if not query:
        return None
    followup = followup_recipient_ids(_message_ids(event), provider_ids)
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


def _bounce_type(event, reason) -> tuple[str, str]:
    """(bounce_type for the event, the kind from campaigns.bounces' table): hard stays hard;
    soft and policy bounces are `soft` events (the address is not suppressed for them)."""
    kind = bounces.provider_bounce_kind(
        event_type=event.event_type, reject_reason=event.reject_reason, esp_event=event.esp_event, reason=reason
    )
    return ("hard" if kind == bounces.HARD else "soft"), kind


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
        "source": esp_name,
        "provider_event_type": event.event_type,
        **extra,
    }
    reason = event.mta_response or event.description or event.reject_reason
    if "bounce_type" in data:
        data["bounce_type"], data["kind"] = _bounce_type(event, reason)
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
