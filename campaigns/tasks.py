"""Celery tasks: a thin API over campaigns.sending. Queue them with
transaction.on_commit(lambda: task.delay(...)), never before the commit.

Every task takes ids and is safe to run twice or concurrently: the recipient rows are
claimed one by one with a lease, so a duplicate delivery of a task (Redis redelivers
unacked tasks after the visibility timeout; `acks_late` + `task_reject_on_worker_lost`
redeliver the task of a killed worker) finds nothing to take twice.
"""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_prerun, worker_process_init, worker_shutting_down

from . import sending
from .exceptions import TemplateError
from .sending import stopping

log = logging.getLogger(__name__)

# Time limits (soft, hard) in seconds, suited to each task; the soft one raises
# SoftTimeLimitExceeded in the task (it gives its claims back), the hard one kills the
# process (its leases expire and the janitor frees them). All stay below the broker's
# visibility timeout (CELERY_VISIBILITY_TIMEOUT, 3600 s).
# A batch lasts about 30 s at its pace (pacing.batch_size_for); waits for a shared rate and
# slow mail servers can stretch it, so it gets many times that.
SEND_LIMITS = (1500, 1560)
# One render (≤ TEMPLATE_RENDER_TIMEOUT) and one SMTP exchange (≤ the 30 s EMAIL_TIMEOUT).
TEST_SEND_LIMITS = (60, 75)
# beat's launcher: up to 4 renders (≤ 2 s each) per due campaign.
LAUNCH_LIMITS = (120, 150)
# beat's janitor: two set operations.
JANITOR_LIMITS = (60, 75)
# A CSV import takes over after its lease, so an import cut short resumes where it stopped.
IMPORT_LIMITS = (3000, 3300)


@worker_process_init.connect
def _idle_pool_processes_wait_for_the_worker(**kwargs):
    stopping.ignore_until_a_task()


@task_prerun.connect
def _stop_warmly_on_sigterm(**kwargs):
    """In a pool process: SIGTERM finishes the message in flight, then stops the batch."""
    stopping.install()


@worker_shutting_down.connect
def _stop_batches(**kwargs):
    """The worker's warm shutdown (its main process; solo and thread pools run tasks there)."""
    stopping.request()


def backoff(retries: int) -> float:
    """Seconds before retry n (0-based): base × 2^n, at most 10 minutes."""
    return sending.backoff(retries)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    soft_time_limit=SEND_LIMITS[0],
    time_limit=SEND_LIMITS[1],
)
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
    except SoftTimeLimitExceeded:
        # The batch gave its unsent claims back; the janitor queues the campaign again.
        log.warning("campaign %s: a batch ran past %s s and was stopped", campaign_id, SEND_LIMITS[0])
        return {"stopped": "time limit"}
    return result.__dict__


@shared_task(
    bind=True, acks_late=True, max_retries=5, soft_time_limit=TEST_SEND_LIMITS[0], time_limit=TEST_SEND_LIMITS[1]
)
def send_test_email(self, campaign_id: int, to_email: str, lead_id: int | None = None) -> None:
    """One real message to `to_email`, subject prefixed "[TEST] ", not counted in stats."""
    try:
        sending.send_test(campaign_id=campaign_id, to_email=to_email, lead_id=lead_id)
    except sending.TransientFailure as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
    except (sending.PermanentFailure, TemplateError) as exc:
        # The template changed since the request, or the address was refused: said, not retried.
        log.warning("test message for campaign %s to %s not sent: %s", campaign_id, to_email, exc)


@shared_task(acks_late=True, soft_time_limit=LAUNCH_LIMITS[0], time_limit=LAUNCH_LIMITS[1])
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


@shared_task(acks_late=True, soft_time_limit=JANITOR_LIMITS[0], time_limit=JANITOR_LIMITS[1])
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


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
    soft_time_limit=IMPORT_LIMITS[0],
    time_limit=IMPORT_LIMITS[1],
)
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
