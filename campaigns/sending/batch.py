"""The batch: claim, render, send every message through the one step, give back the rest,
and queue the one task that follows (`Successor`)."""

import logging
from datetime import timedelta

from django.db import DatabaseError, connection
from django.db.models import Min
from django.utils import timezone

from .. import states
from ..exceptions import TemplateError
from ..models import Campaign, CampaignRecipient
from ..pacing import Pacer, batch_size_for
from ..states import fail as fail_campaign
from ..states import finish_if_done
from . import stopping, store
from .drivers import TwoPhase, Whole
from .errors import TransientFailure
from .mime import Sender
from .prepare import Prepared, RenderAhead, RenderFailed, compiled_for, prepare_batch
from .step import Batch, BatchResult, send_one
from .transport import Transport

log = logging.getLogger(__name__)
R = CampaignRecipient.Status


class Successor:
    """The one task that follows a batch, queued at most once, whatever happens: at once
    when the claim was full and its first message went through (so every free worker joins
    in), after the backoff when the batch failed transiently or lost the database, and when
    the next recipients become due when all that is left is backing off."""

    def __init__(self, queue_next, failures: int):
        self.queue_next, self.failures, self.queued = queue_next, failures, None

    def queue(self, countdown: float = 0.0, failures: int = 0) -> None:
        if self.queued is not None:
            return
        self.queued = max(0.0, countdown)
        if self.queue_next is None:
            return
        try:
            self.queue_next(countdown=self.queued, failures=failures)
        except Exception:  # the broker is away: the janitor finds the campaign again
            log.exception("could not queue the next batch")

    def backoff(self) -> float:
        """Queue the successor after this chain's backoff; returns the countdown."""
        countdown = store.backoff(self.failures)
        self.queue(countdown, self.failures + 1)
        return countdown

    def when_due(self, campaign_id) -> None:
        """Queue the successor for when the earliest recipient in backoff is due."""
        due = CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.PENDING).aggregate(
            at=Min("not_before")
        )["at"]
        if due is not None:
            self.queue((due - timezone.now()).total_seconds() + 0.1, self.failures)


def send_batch(campaign_id: int, *, queue_next=None, failures: int = 0) -> BatchResult:
    """Claim one batch of `campaign_id` and send it.

    `queue_next(countdown=, failures=)` queues the task that follows; it is called at most
    once (see Successor). `failures` counts the batches in a row of this chain that failed
    transiently or lost the database (the backoff's exponent). Raises TransientFailure
    (after putting every unsent row back, due again after the backoff) when the mail
    server should be retried later; a database error is logged and answered with the
    successor after the backoff. Precondition: none; safe to run any number of times,
    concurrently, for any campaign in any status.
    """
    result = BatchResult()
    successor = Successor(queue_next, failures)
    try:
        return _send_batch(campaign_id, result, successor)
    except DatabaseError as exc:
        log.warning("campaign %s: database error (%s); next batch after the backoff", campaign_id, exc)
        connection.close()
        result.error = f"database: {exc}"
        successor.backoff()
        return result


def _send_batch(campaign_id, result, successor) -> BatchResult:
    campaign = Campaign.all_objects.select_related("template").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != states.SENDING:
        result.stopped = True
        return result
    size = batch_size_for(campaign)
    recipients = store.claim_batch(campaign=campaign, size=size)
    recipients = store.drop_erased(recipients)
    result.claimed = len(recipients)
    if not recipients:
        result.finished = finish_if_done(campaign_id)
        if result.finished is None:
            successor.when_due(campaign_id)
        return result
    full = len(recipients) >= size
    batch = Batch(campaign=campaign, recipients=recipients, result=result)
    batch.on_progress = (lambda: successor.queue()) if full else None
    messages = None
    not_before = None
    try:
        try:
            _, dynamic = compiled_for(campaign)
            if dynamic:
                messages = Prepared(prepare_batch(campaign, recipients))
            else:
                messages = RenderAhead(campaign, recipients, Sender.for_campaign(campaign))
            _send_all(batch, messages)
        except (RenderFailed, TemplateError) as exc:
            _render_failed(campaign, exc, result)
        except TransientFailure:
            not_before = timezone.now() + timedelta(seconds=successor.backoff())
            raise
        except Exception as exc:  # anything a template filter raises while rendering up front
            if messages is not None or isinstance(exc, DatabaseError):
                raise
            _render_failed(campaign, exc, result)
    finally:
        if messages is not None:
            messages.close()
        result.released += _give_back(batch.remaining, not_before)
    if not result.stopped:
        result.finished = finish_if_done(campaign_id)
        if result.finished is None:
            if full:
                successor.queue()
            else:
                successor.when_due(campaign_id)
    return result


def _give_back(ids, not_before) -> int:
    """Release the unsent claims; if the database is away, their leases run out instead."""
    try:
        return store.release(ids, not_before=not_before)
    except DatabaseError:
        connection.close()
        try:
            return store.release(ids, not_before=not_before)
        except DatabaseError:
            log.warning("could not give %d claim(s) back; their leases will expire", len(ids))
            return 0


def _render_failed(campaign, exc, result) -> None:
    fail_campaign(campaign, f"The template stopped rendering: {exc}")
    log.error("campaign %s: the template stopped rendering: %s", campaign.campaign_id, exc)
    result.stopped = True


def _send_all(batch: Batch, messages) -> None:
    transport = Transport(Sender.for_campaign(batch.campaign))
    transport.open()
    pacer = Pacer(batch.campaign)
    driver = (TwoPhase if transport.kind == "smtp" else Whole)(batch, transport, pacer)
    try:
        for index in range(len(batch.recipients)):
            if stopping.requested():  # the worker is stopping: the rest go back (`_give_back`)
                return
            driver.prepare(index)
            try:
                out = messages.get(index)
            except RenderFailed:
                driver.render_failed(index)
                raise
            batch.heartbeat()
            if not send_one(batch, driver, index, out):
                return
    finally:
        driver.close()
