"""Celery tasks: a thin API over campaigns.sending. Queue them with
transaction.on_commit(lambda: task.delay(...)), never before the commit.

Every task takes ids and is safe to run twice or concurrently: the recipient rows are
claimed one by one with a lease, so a duplicate delivery of a task (Redis redelivers
unacked tasks after the visibility timeout; `acks_late` + `task_reject_on_worker_lost`
redeliver the task of a killed worker) finds nothing to take twice.
"""

import logging

from celery import shared_task

from . import sending

log = logging.getLogger(__name__)


def backoff(retries: int) -> float:
    """Seconds before retry n (0-based): base × 2^n, at most 10 minutes."""
    return sending.backoff(retries)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=None)
def send_campaign(self, campaign_id: int, failures: int = 0) -> dict:
    """Claim and send one batch of the campaign, then queue the one task that follows it:
    at once when the batch was full and its first message went through (so every free
    worker process joins in), after the backoff (SEND_RETRY_BACKOFF_SECONDS × 2^failures)
    when the mail server failed transiently or the database was away. Completes the
    campaign at the end. Never raises for a mail or database failure: the chain goes on."""

    def queue_next(*, countdown, failures):
        send_campaign.apply_async((campaign_id,), {"failures": failures}, countdown=countdown or None)

    try:
        result = sending.send_batch(campaign_id, queue_next=queue_next, failures=failures)
    except sending.TransientFailure as exc:
        log.warning("campaign %s: transient failure (%s), next batch after the backoff", campaign_id, exc)
        return {"transient": str(exc)}
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
    from fliptech.errors import DomainError, describe

    from . import states
    from .exceptions import InvalidState
    from .models import Campaign
    from .services import campaign_launch

    launched = []
    for campaign in Campaign.objects.filter(states.due_for_launch()).order_by("scheduled_at"):
        try:
            campaign_launch(campaign=campaign, send_immediately=True)
        except InvalidState:
            continue
        except DomainError as exc:
            states.fail(campaign, f"Could not launch at the scheduled time: {describe(exc)}")
            continue
        launched.append(campaign.pk)
    return launched


@shared_task(acks_late=True)
def release_expired_leases() -> dict:
    """The janitor (celery-beat, every 10 s): free claims whose lease expired (the sender
    died) — first messages and follow-ups —, advance sequences a dead sender left behind,
    then queue `send_campaign` again for running campaigns nobody is working on
    (`sending.stalled_campaign_ids`: a lost task chain; `followups.stalled_campaign_ids`:
    follow-ups come due with no chain waiting)."""
    result = sending.release_expired_leases()
    result.update(sending.followups.release_expired_leases())
    result["caught_up"] = sending.followups.catch_up()
    stalled = sorted(set(sending.stalled_campaign_ids()) | set(sending.followups.stalled_campaign_ids()))
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


@shared_task(acks_late=True)
def decide_ab_tests() -> list:
    """celery-beat, every 10 s: choose the winner of every automatic A/B test whose duration
    has passed, and send the rest with it (`campaigns.abtest.decide`). Safe to run twice: a
    test is decided once."""
    from .abtest.decide import decide_due

    return decide_due()
