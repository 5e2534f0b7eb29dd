"""What an inbound message changes, stored before anyone is told it arrived.

- A **reply**: a `reply` event (`event_data`: `from`, `subject`, `text`, `received_at`,
  `step`) and a `Reply` row (once per Message-ID) in one transaction; the event sets
  `replied_at` (the first reply), counts in `emails_replied`, and stops the sequence; the
  lead's `last_replied_at` is set. No savepoint of its own: ~9 statements a reply (pinned in
  tests/replies), since under load each round trip waits for a CPU.
- An **automatic reply**: a `Reply` row of kind `auto_reply` and an `auto_reply` event;
  it stops nothing.
- A **delivery status notification**: a `bounce` event (hard for a 5.x.x status: the
  address suppressed, the sequence stopped), once per DSN.
- Anything else (no recipient found): nothing, logged.
"""

import hashlib
import logging

from django.db import IntegrityError, transaction
from django.db.models import Q

from campaigns.models import Lead

from .. import services
from ..models import EmailTracking, Reply

log = logging.getLogger(__name__)
EventType = EmailTracking.EventType


def _event_id(kind: str, message_id: str) -> str:
    return f"inbound:{kind}:" + hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()


def record(inbound, found, *, source: str) -> str:
    """Store what `inbound` (parse.Inbound) means for `found` (match.Match, or None).
    Returns "reply", "auto_reply", "bounce", "duplicate" or "unmatched"."""
    if found is None:
        log.info("inbound %s from %r matches no recipient; ignored", inbound.message_id, inbound.from_address)
        return "unmatched"
    if inbound.bounce is not None:
        return _bounce(inbound, found, source)
    kind = Reply.Kind.AUTO_REPLY if inbound.auto_reply else Reply.Kind.REPLY
    recipient = found.recipient
    data = {
        "from": inbound.from_header,
        "subject": inbound.subject,
        "text": inbound.text,
        "received_at": inbound.received_at.isoformat(),
        "step": found.step,
        "source": source,
    }
    try:
        with transaction.atomic():
            # The event first: its provider id (derived from the Message-ID) is unique, so a
            # message seen before stops here, having changed nothing.
            event = services.event_record(
                recipient=recipient,
                event_type=EventType.REPLY if kind == Reply.Kind.REPLY else EventType.AUTO_REPLY,
                event_data=data,
                provider_event_id=_event_id(kind, inbound.message_id),
                is_machine=False,
            )
            if event.replayed:
                return "duplicate"
            Reply.objects.create(
                campaign_id=recipient.campaign_id,
                recipient=recipient,
                step=found.step,
                kind=kind,
                message_id=inbound.message_id,
                from_header=inbound.from_header,
                subject=inbound.subject,
                text=inbound.text,
                received_at=inbound.received_at,
                source=source[:40],
                event=event,
            )
            if kind == Reply.Kind.REPLY and recipient.lead_id:
                Lead.objects.filter(pk=recipient.lead_id).filter(
                    Q(last_replied_at__isnull=True) | Q(last_replied_at__lt=inbound.received_at)
                ).update(last_replied_at=inbound.received_at)
    except IntegrityError:
        # The Reply's unique Message-ID (a copy stored meanwhile): everything above rolled back.
        if Reply.objects.filter(message_id=inbound.message_id).exists():
            return "duplicate"
        raise
    return str(kind)


def _bounce(inbound, found, source) -> str:
    bounce = inbound.bounce
    event = services.event_record(
        recipient=found.recipient,
        event_type=EventType.BOUNCE,
        event_data={
            "bounce_type": "hard" if bounce.hard else "soft",
            "source": source,
            "status": bounce.status,
            "reason": bounce.diagnostic or bounce.status,
            "step": found.step,
        },
        provider_event_id=_event_id("dsn", inbound.message_id),
        is_machine=False,
    )
    return "duplicate" if event.replayed else "bounce"
