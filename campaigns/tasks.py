"""Celery tasks: a thin API over campaigns.sending. Queue them with
transaction.on_commit(lambda: task.delay(...)), never before the commit.

Every task takes ids and is safe to run twice or concurrently: the recipient rows are
claimed one by one with a lease, so a duplicate delivery of a task (Redis redelivers
unacked tasks after the visibility timeout; `acks_late` + `task_reject_on_worker_lost`
redeliver the task of a killed worker) finds nothing to take twice.
"""

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import sending

log = logging.getLogger(__name__)


def backoff(retries: int) -> float:
    """Seconds before retry n (0-based): base × 2^n, at most 10 minutes."""
    base = getattr(settings, "SEND_RETRY_BACKOFF_SECONDS", 10)
    return min(600.0, base * (2**retries))


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def send_campaign(self, campaign_id: int) -> dict:
    """Claim and send one batch of the campaign; queue the next batch as soon as this
    one is claimed (so every free worker process joins in), retry with exponential
    backoff when the mail server fails transiently. Completes the campaign at the end."""

    def next_batch(full):
        if full:
            send_campaign.delay(campaign_id)

    try:
        result = sending.send_batch(campaign_id, on_claimed=next_batch)
    except sending.TransientFailure as exc:
        countdown = backoff(self.request.retries)
        log.warning("campaign %s: transient failure (%s), retry in %.0fs", campaign_id, exc, countdown)
        raise self.retry(exc=exc, countdown=countdown) from exc
    return result.__dict__


@shared_task(bind=True, acks_late=True, max_retries=5)
def send_test_email(self, campaign_id: int, to_email: str, lead_id: int | None = None) -> None:
    """One real message to `to_email`, subject prefixed "[TEST] ", not counted in stats."""
    try:
        sending.send_test(campaign_id=campaign_id, to_email=to_email, lead_id=lead_id)
    except sending.TransientFailure as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    except sending.PermanentFailure:
        log.warning("test message for campaign %s to %s refused", campaign_id, to_email, exc_info=True)


@shared_task(acks_late=True)
def launch_due_campaigns() -> list:
    """celery-beat, every 10 s: launch `scheduled` campaigns whose time has come.

    `campaign_launch` moves scheduled → running with a conditional UPDATE, so with two
    beat processes (or a slow run overlapping the next) a campaign launches once; the loser
    gets InvalidState and moves on. A campaign that can no longer launch (its template
    stopped rendering, no pending recipient left) becomes `failed` with the reason."""
    from rest_framework.exceptions import APIException

    from .exceptions import InvalidState
    from .models import Campaign
    from .services import campaign_launch

    launched = []
    due = Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=timezone.now())
    for campaign in due.order_by("scheduled_at"):
        try:
            campaign_launch(campaign=campaign, send_immediately=True)
        except InvalidState:
            continue
        except APIException as exc:
            sending.fail_campaign(campaign, f"Could not launch at the scheduled time: {_detail(exc)}")
            continue
        launched.append(campaign.pk)
    return launched


def _detail(exc) -> str:
    detail = getattr(exc, "detail", exc)
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in detail.items())
    if isinstance(detail, list):
        return " ".join(map(str, detail))
    return str(detail)


@shared_task(acks_late=True)
def release_expired_leases() -> dict:
    """celery-beat, every 10 s: free claims whose lease expired (the sender died), then
    queue `send_campaign` again for running campaigns nobody is working on."""
    result = sending.release_expired_leases()
    stalled = sending.stalled_campaign_ids()
    for campaign_id in stalled:
        send_campaign.delay(campaign_id)
    return {**result, "requeued": stalled}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def import_leads(self, import_id: int) -> dict | None:
    """Run a CSV lead import (campaigns.imports). A second delivery while another worker
    runs it waits for that worker's lease; one for a finished import does nothing."""
    from .imports import ImportBusy, import_run

    try:
        lead_import = import_run(import_id=import_id)
    except ImportBusy as exc:
        raise self.retry(countdown=exc.retry_in) from exc
    return None if lead_import is None else {"id": lead_import.pk, "status": lead_import.status}
