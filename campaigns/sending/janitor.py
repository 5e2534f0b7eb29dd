"""The janitor's side of the Store: expired leases given back (or reported interrupted) and
campaigns whose send task was lost, found again."""

import logging
from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from .. import states
from ..models import Campaign, CampaignRecipient
from ..states import finish_if_done
from .store import INTERRUPTED, setting

log = logging.getLogger(__name__)
R = CampaignRecipient.Status


def release_expired_leases() -> dict:
    """Queued rows whose lease expired (their sender died, or lost the database for longer
    than SEND_LEASE_SECONDS) go back to `pending` when their message's data was never handed
    to the server, and to `failed` (INTERRUPTED) when it was (`handed_at`); touched running campaigns are then
    completed if nothing is left. Returns {"released", "interrupted"}."""
    now = timezone.now()
    expired = CampaignRecipient.objects.filter(status=R.QUEUED, lease_expires_at__lt=now)
    campaign_ids = set(expired.values_list("campaign_id", flat=True).distinct())
    released = expired.filter(handed_at__isnull=True).update(
        status=R.PENDING, claimed_at=None, lease_expires_at=None, sent_at=None, updated_at=now
    )
    interrupted = expired.filter(handed_at__isnull=False).update(
        status=R.FAILED, sent_at=None, handed_at=None, lease_expires_at=None, error_message=INTERRUPTED, updated_at=now
    )
    if interrupted:
        log.warning("%d recipient(s) interrupted in flight were marked failed", interrupted)
    for campaign_id in campaign_ids:
        finish_if_done(campaign_id)
    return {"released": released, "interrupted": interrupted}


def stalled_campaign_ids(*, stale_seconds: int | None = None) -> list[int]:
    """Running campaigns that have due pending recipients and nobody working on them: no
    live lease, nothing started and no retry scheduled (`not_before`) within the last
    SEND_STALL_SECONDS (30). Their send task was lost (a worker died on a broker that does
    not redeliver, Redis restarted, the queue was purged); the janitor queues
    `send_campaign` for them again. A campaign backing off is not stalled: its rows are not
    due, and its successor task is queued with the same countdown."""
    stale = stale_seconds if stale_seconds is not None else setting("SEND_STALL_SECONDS", 30)
    now = timezone.now()
    since = now - timedelta(seconds=stale)
    rows = CampaignRecipient.objects.filter(campaign_id=OuterRef("pk"))
    due = rows.filter(status=R.PENDING).filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    leased = rows.filter(status=R.QUEUED, lease_expires_at__gte=now)
    started = rows.filter(sent_at__gte=since)
    # A retry scheduled (its successor queued with that countdown, ≤ 10 min); a row waiting
    # hours for its sending window is not one.
    retrying = rows.filter(not_before__gte=since, not_before__lte=now + timedelta(seconds=600))
    return list(
        Campaign.objects.filter(states.sending_q())
        .filter(Exists(due), ~Exists(leased), ~Exists(started), ~Exists(retrying))
        .values_list("pk", flat=True)
    )
