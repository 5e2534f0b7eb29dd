"""The janitor's side of the Store: expired leases given back (or reported interrupted) and
campaigns whose send task was lost, found again."""

import logging
from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from ..models import Campaign, CampaignRecipient
from .finish import finish_if_done
from .store import setting

log = logging.getLogger(__name__)
R = CampaignRecipient.Status

INTERRUPTED = (
    "interrupted: the sender stopped after handing this message to the mail server; it may "
    "have been delivered, so it is not sent again"
)


def release_expired_leases() -> dict:
    """Queued rows whose lease expired go back to `pending` when their message never
    started, and to `failed` (INTERRUPTED) when it did; touched running campaigns are then
    completed if nothing is left. Returns {"released", "interrupted"}."""
    now = timezone.now()
    expired = CampaignRecipient.objects.filter(status=R.QUEUED, lease_expires_at__lt=now)
    campaign_ids = set(expired.values_list("campaign_id", flat=True).distinct())
    released = expired.filter(sent_at__isnull=True).update(
        status=R.PENDING, claimed_at=None, lease_expires_at=None, updated_at=now
    )
    interrupted = expired.filter(sent_at__isnull=False).update(
        status=R.FAILED, sent_at=None, lease_expires_at=None, error_message=INTERRUPTED, updated_at=now
    )
    if interrupted:
        log.warning("%d recipient(s) interrupted in flight were marked failed", interrupted)
    for campaign_id in campaign_ids:
        finish_if_done(campaign_id)
    return {"released": released, "interrupted": interrupted}


def stalled_campaign_ids(*, stale_seconds: int | None = None) -> list[int]:
    """Running campaigns with pending recipients that no sender is working on (no claim
    held, nothing sent for a while): their task was lost (a worker died on a broker that
    does not redeliver, or the task queue was purged). The janitor queues `send_campaign`
    for them again."""
    stale = stale_seconds if stale_seconds is not None else setting("SEND_STALL_SECONDS", 120)
    # Busy: a sender holds claims, or sent something lately (both answered from indexes).
    holding = CampaignRecipient.objects.filter(campaign_id=OuterRef("pk"), status=R.QUEUED)
    recent = CampaignRecipient.objects.filter(
        campaign_id=OuterRef("pk"), sent_at__gte=timezone.now() - timedelta(seconds=stale)
    )
    pending = CampaignRecipient.objects.filter(campaign_id=OuterRef("pk"), status=R.PENDING)
    return list(
        Campaign.objects.filter(status=Campaign.Status.RUNNING)
        .filter(Exists(pending), ~Exists(holding), ~Exists(recent))
        .values_list("pk", flat=True)
    )
