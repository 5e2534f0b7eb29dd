"""Writes of the tracking app: one event row per hit, and the recipient's state.

Counting rules
--------------
* Every hit is an ``EmailTracking`` row (machine hits too, flagged ``is_machine``).
* A human open/click adds 1 to ``open_count``/``click_count`` with ``F()`` (no lost update
  under concurrency); the first one also sets ``opened_at``/``clicked_at`` through a
  compare-and-set ``UPDATE … WHERE opened_at IS NULL``, so concurrent first hits set it
  once. Unique opens/clicks are the recipients with that timestamp set.
* A machine open/click only adds to ``machine_open_count``/``machine_click_count``.
* A human click on a recipient with no open seen yet also counts as an open (images were
  blocked): ``opened_at`` is set and ``open_count`` gains 1, no extra event row.
* A provider event id seen before (a replayed webhook) records and changes nothing.

Status moves only ``sent → bounced`` (hard bounce) and ``sent → unsubscribed``.
Recipients that were never sent (``sent_at`` is NULL: pending, queued, failed) get the
event row and, for hard bounces, complaints and unsubscribes, the address suppression —
but no counters, timestamps or status change: stats only count what was sent, and the
sender will fail a suppressed pending recipient with "suppressed: <reason>".
"""

import logging

from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from campaigns import bounces, sequences, states
from campaigns.models import CampaignRecipient, StopReason, Suppression

from . import machine
from .models import EmailTracking

log = logging.getLogger(__name__)

EventType = EmailTracking.EventType
Status = CampaignRecipient.Status
Reason = Suppression.Reason


suppress = bounces.suppress  # the one way an address is suppressed (campaigns.bounces)


def unsubscribe_source(recipient: CampaignRecipient) -> str:
    """The Suppression.source an unsubscribe through this recipient's link writes."""
    return f"unsubscribe:{recipient.campaign.campaign_id}:{recipient.pk}"


def _recipient_rows(recipient):
    return CampaignRecipient.objects.filter(pk=recipient.pk)


def _cas(recipient, field, now, **extra) -> bool:
    """Set `field` to `now` when it is still NULL; True when this call set it."""
    return _recipient_rows(recipient).filter(**{f"{field}__isnull": True}).update(**{field: now}, **extra) == 1


def _apply(recipient, event_type, event_data, is_machine, now):
    """The recipient-side effects of one recorded event."""
    rows = _recipient_rows(recipient)
    sent = recipient.sent_at is not None

    if event_type in (EventType.OPEN, EventType.CLICK):
        if not sent:
            return
        is_open = event_type == EventType.OPEN
        if is_machine:
            counter = "machine_open_count" if is_open else "machine_click_count"
            rows.update(**{counter: F(counter) + 1})
            return
        counter, stamp = ("open_count", "opened_at") if is_open else ("click_count", "clicked_at")
        rows.update(**{counter: F(counter) + 1})
        if getattr(recipient, stamp) is None:
            _cas(recipient, stamp, now)
        if not is_open and recipient.opened_at is None:
            _cas(recipient, "opened_at", now, open_count=F("open_count") + 1)
        return

    email = recipient.email_address
    source = recipient.campaign.campaign_id
    if event_type == EventType.BOUNCE:
        bounce_type = (event_data or {}).get("bounce_type", "hard")
        if bounce_type == "soft" and event_data.get("kind", bounces.SOFT) == bounces.SOFT:
            # the provider retries; counted towards SOFT_BOUNCE_LIMIT (a policy refusal is not)
            bounces.soft_bounced(email=email, recipient_id=recipient.pk, source=source)
        if bounce_type != "hard":
            return
        suppress(email=email, reason=Reason.HARD_BOUNCE, source=source)
        if sent:
            bounces.recipient_bounced(recipient.pk, now)
    elif event_type == EventType.COMPLAIN:
        suppress(email=email, reason=Reason.COMPLAINT, source=source)
        if sent:
            _cas(recipient, "complained_at", now)
    elif event_type == EventType.UNSUBSCRIBE:
        suppress(email=email, reason=Reason.UNSUBSCRIBED, source=unsubscribe_source(recipient))
        if sent:
            rows.filter(unsubscribed_at__isnull=True).update(
                unsubscribed_at=now,
                status=Case(When(status=Status.SENT, then=Value(Status.UNSUBSCRIBED)), default=F("status")),
            )
    elif event_type == EventType.REPLY:
        if sent:
            _cas(recipient, "replied_at", now)
    elif event_type == EventType.DELIVERED:
        if sent:
            _cas(recipient, "delivered_at", now)  # never touches status: a bounce stays


def event_record(
    *,
    recipient: CampaignRecipient,
    event_type: str,
    event_data: dict | None = None,
    user_agent: str = "",
    ip_address: str | None = None,
    url: str = "",
    link=None,
    provider_event_id: str | None = None,
    is_machine: bool | None = None,
    method: str = "GET",
) -> EmailTracking:
    """Record one event for `recipient` and apply its effect (see the module docstring).

    `is_machine=None` asks `tracking.machine.is_machine` (with `method`, the HTTP method of
    the hit). With a `provider_event_id` already recorded, nothing changes and the earlier
    event is returned with ``replayed = True``.
    """
    if event_type not in EventType.values:
        raise ValueError(f"unknown event type {event_type!r}")
    now = timezone.now()
    if is_machine is None:
        is_machine = machine.is_machine(
            event_type=event_type,
            user_agent=user_agent,
            ip_address=ip_address,
            method=method,
            sent_at=recipient.sent_at,
            at=now,
        )
    event = EmailTracking(
        campaign_recipient=recipient,
        campaign_id=recipient.campaign_id,
        event_type=event_type,
        event_data=event_data or {},
        user_agent=(user_agent or "")[:2000],
        ip_address=ip_address or None,
        url=url or (link.url if link is not None else ""),
        link=link,
        is_machine=bool(is_machine),
        provider_event_id=(provider_event_id or None) and provider_event_id[:255],
    )
    cancelled = 0
    # No savepoint of its own inside a caller's transaction (an error rolls that back too).
    with transaction.atomic(savepoint=False):
        if event.provider_event_id:
            try:
                with transaction.atomic():
                    event.save(force_insert=True)
            except IntegrityError:
                earlier = EmailTracking.objects.filter(provider_event_id=event.provider_event_id).first()
                if earlier is None:
                    raise
                earlier.replayed = True
                return earlier
        else:
            event.save(force_insert=True)
        _apply(recipient, event_type, event.event_data, event.is_machine, now)
        stop_reason = sequence_stop_reason(event_type, event.event_data)
        if stop_reason:
            cancelled = sequences.stop([recipient.pk], stop_reason)
    if recipient.sent_at is not None and _raises_a_rate(event_type, event.event_data):
        states.auto_pause(recipient.campaign)
    if cancelled:
        states.finish_if_done(recipient.campaign_id)  # that pending follow-up may have been the last
    event.replayed = False
    return event


def _raises_a_rate(event_type, event_data) -> bool:
    """A hard bounce or a complaint: the events that can push a campaign over its auto-pause
    limits (campaigns.states.auto_pause)."""
    if event_type == EventType.COMPLAIN:
        return True
    return event_type == EventType.BOUNCE and (event_data or {}).get("bounce_type", "hard") == "hard"


def bounce_at_send(recipient_id: int, campaign_id: int, event_data: dict) -> None:
    """The `bounce` event of a refusal at send time (the engine has already applied its
    effects: status, suppression; campaigns.bounces calls this)."""
    EmailTracking.objects.create(
        campaign_recipient_id=recipient_id,
        campaign_id=campaign_id,
        event_type=EventType.BOUNCE,
        event_data=event_data,
        is_machine=False,
    )


def sequence_stop_reason(event_type, event_data) -> str:
    """The follow-up sequence's stop reason an event brings, or "" (opens, clicks, soft
    bounces, deliveries and automatic replies stop nothing)."""
    if event_type == EventType.BOUNCE:
        return StopReason.BOUNCED if (event_data or {}).get("bounce_type", "hard") == "hard" else ""
    return {
        EventType.REPLY: StopReason.REPLIED,
        EventType.UNSUBSCRIBE: StopReason.UNSUBSCRIBED,
        EventType.COMPLAIN: StopReason.COMPLAINED,
    }.get(event_type, "")


def unsubscribe(*, recipient: CampaignRecipient, user_agent: str = "", ip_address=None, one_click=False):
    """Unsubscribe through the recipient's link; idempotent.

    Returns the new event, or None when the recipient was already unsubscribed and the
    address is still suppressed (a second POST changes nothing).
    """
    if recipient.unsubscribed_at is not None or recipient.sent_at is None:
        if Suppression.objects.filter(email=recipient.email_address.strip().lower()).exists():
            return None
    return event_record(
        recipient=recipient,
        event_type=EventType.UNSUBSCRIBE,
        event_data={"one_click": bool(one_click)},
        user_agent=user_agent,
        ip_address=ip_address,
        is_machine=False,
    )


def resubscribe(*, recipient: CampaignRecipient) -> bool:
    """Undo an unsubscribe made through this recipient's link: remove the suppression that
    unsubscribe created (not one from a bounce, complaint or another campaign) and put the
    recipient back to sent. True when something was undone."""
    with transaction.atomic():
        removed, _ = Suppression.objects.filter(
            email=recipient.email_address.strip().lower(),
            reason=Reason.UNSUBSCRIBED,
            source=unsubscribe_source(recipient),
        ).delete()
        restored = (
            _recipient_rows(recipient)
            .filter(unsubscribed_at__isnull=False)
            .update(
                unsubscribed_at=None,
                status=Case(When(status=Status.UNSUBSCRIBED, then=Value(Status.SENT)), default=F("status")),
            )
        )
    return bool(removed or restored)
