"""The batch: claim, render, send every message through the one step, give back the rest,
and queue the one task that follows (`Successor`)."""

import logging
import time
from datetime import timedelta

from django.db import DatabaseError, connection
from django.db.models import Min
from django.utils import timezone

from .. import sequences, states, windows
from ..domain_pacing import DomainPacer
from ..exceptions import TemplateError
from ..models import Campaign, CampaignRecipient
from ..pacing import Pacer, batch_size_for
from ..states import fail as fail_campaign
from ..states import finish_if_done
from . import followup_messages, followups, stopping, store
from .domains import DomainPlan, Waiting
from .drivers import TwoPhase, Whole
from .errors import TransientFailure
from .mime import Sender
from .prepare import Prepared, RenderAhead, RenderFailed, any_dynamic, first_jobs, prepare_batch
from .step import Batch, BatchResult, send_one
from .transport import Transport

log = logging.getLogger(__name__)
R = CampaignRecipient.Status


# The longest countdown a successor is queued with (the longest backoff); a campaign whose
# next recipient is due later — waiting for its sending window — is requeued by the janitor.
WAIT_LIMIT = 600


class Successor:
    """The one task that follows a batch, queued at most once, whatever happens: at once
    when the claim was full and its first message went through (so every free worker joins
    in), after the backoff when the batch failed transiently or lost the database, and when
    the next recipients become due when all that is left is backing off."""

    def __init__(self, queue_next, failures: int):
        self.queue_next, self.failures, self.queued = queue_next, failures, None
        self.has_steps = True  # the batch says, once it has read the campaign's steps

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

    def when_due(self, campaign_id, sooner: float | None = None) -> None:
        """Queue the successor for when the earliest recipient in backoff is due, or the
        earliest follow-up if that is sooner and within FOLLOWUP_HORIZON (further ones are
        beat's: `followups.stalled_campaign_ids`), or in `sooner` seconds if that is sooner
        (a capped domain the claim held back has slots again)."""
        pending = CampaignRecipient.objects.filter(campaign_id=campaign_id, status=R.PENDING)
        if sooner is not None:  # the due rows left are the held-back domain's: they wait for it
            pending = pending.filter(not_before__gt=timezone.now())
        due = pending.aggregate(at=Min("not_before"))["at"]
        step_due = followups.next_due_soon(campaign_id) if self.has_steps else None
        if step_due is not None and (due is None or step_due < due):
            due = step_due
        countdown = None if due is None else (due - timezone.now()).total_seconds() + 0.1
        if sooner is not None and (countdown is None or sooner < countdown):
            countdown = sooner
        if countdown is None:
            return
        if countdown <= WAIT_LIMIT:  # beyond it (a sending window hours away) the janitor requeues
            self.queue(countdown, self.failures)


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
    delays = sequences.delays_of(campaign_id)  # the follow-up steps, {position: delay}
    successor.has_steps = bool(delays)
    # Due follow-ups first (they have a due time to keep), then first messages.
    kind = followups
    plan = DomainPlan(size)
    recipients = followups.claim_batch(campaign=campaign, size=size) if delays else []
    if not recipients:
        kind = store
        recipients = store.claim_batch(campaign=campaign, size=size, quotas=plan.quotas(), held_back=plan.held_back)
        recipients = store.drop_erased(recipients)
    result.claimed = len(recipients)
    recipients = _outside_window_held(kind, campaign, recipients, result)
    if result.claimed and not recipients:
        successor.queue()  # the whole batch waits for its window: others may be inside theirs
        return result
    if not recipients:
        result.finished = finish_if_done(campaign_id)
        if result.finished is None:
            successor.when_due(campaign_id, plan.reopen_in())
        return result
    full = len(recipients) >= size
    if kind is store:
        before = len(recipients)
        recipients = store.fail_suppressed(recipients)
        result.failed += before - len(recipients)
        if not recipients:  # every claimed address was suppressed
            result.finished = finish_if_done(campaign_id)
            if result.finished is None and full:
                successor.queue()
            elif result.finished is None:
                successor.when_due(campaign_id, plan.reopen_in())
            return result
    recipients = _arranged(kind, plan, recipients, result, full)
    if not recipients:  # every claimed recipient's domain was at its cap
        successor.when_due(campaign_id, plan.reopen_in())
        return result
    batch = Batch(campaign=campaign, recipients=recipients, result=result, store=kind)
    batch.on_progress = (lambda: successor.queue()) if full else None
    messages = None
    not_before = None
    try:
        try:
            if kind is followups:
                messages = _followup_messages(campaign, batch)
            elif any_dynamic(campaign, recipients):
                messages = Prepared(prepare_batch(campaign, recipients))
            else:
                messages = RenderAhead(first_jobs(campaign, recipients), Sender.for_campaign(campaign))
            _send_all(batch, messages, plan)
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
        result.released += _give_back(kind, batch.remaining, not_before)
        if kind is store:
            _advance(campaign_id, recipients, delays)
    if not result.stopped:
        result.finished = finish_if_done(campaign_id)
        if result.finished is None:
            if full:
                successor.queue()
            else:
                successor.when_due(campaign_id, plan.reopen_in())
    return result


def _arranged(kind, plan, rows, result, full) -> list:
    """SEND_DOMAIN_RATES, before anything is rendered (sending/domains.py): the rows this batch
    sends, in sending order; the capped ones that do not fit go back, due at their domain's
    next free slot."""
    if not plan.active:
        return rows
    address_of = (lambda r: r.recipient.email_address) if kind is followups else (lambda r: r.email_address)
    kept, put_off = plan.arrange(rows, address_of, full=full)
    now = timezone.now()
    by_time = {}
    for pk, seconds in put_off.items():
        by_time.setdefault(round(seconds, 1), []).append(pk)
    for seconds, ids in by_time.items():
        _give_back(kind, ids, now + timedelta(seconds=seconds))
    result.paced += len(put_off)
    return kept


def _give_back(kind, ids, not_before) -> int:
    """Release the unsent claims; if the database is away, their leases run out instead."""
    try:
        return kind.release(ids, not_before=not_before)
    except DatabaseError:
        connection.close()
        try:
            return kind.release(ids, not_before=not_before)
        except DatabaseError:
            log.warning("could not give %d claim(s) back; their leases will expire", len(ids))
            return 0


def _outside_window_held(kind, campaign, rows, result) -> list:
    """The claimed rows inside their recipient's sending window; the others go back, due
    when their window opens (campaigns/windows.py)."""
    lead_of = (lambda r: r.recipient.lead) if kind is followups else (lambda r: r.lead)
    held = windows.hold(campaign, rows, lead_of, timezone.now())
    if not held:
        return rows
    by_time = {}
    for pk, at in held.items():
        by_time.setdefault(at, []).append(pk)
    for at, ids in by_time.items():
        result.released += _give_back(kind, ids, at)
    return [r for r in rows if r.pk not in held]


def _followup_messages(campaign, batch):
    """The follow-ups' messages; rows whose step is gone were settled and leave the batch."""
    kept, messages = followup_messages.prepare_batch(campaign, batch.recipients, Sender.for_campaign(campaign))
    kept_ids = {m.pk for m in kept}
    batch.remaining = [pk for pk in batch.remaining if pk in kept_ids]
    batch.recipients = kept
    return messages


def _advance(campaign_id, recipients, delays) -> None:
    """The sequences of the batch's first messages that went out (a miss — the database
    away — is caught up by beat: `followups.catch_up`)."""
    try:
        sequences.advance_first(campaign_id, [r.pk for r in recipients], delays=delays)
    except DatabaseError:
        connection.close()
        log.warning("campaign %s: sequences not advanced now; beat catches up", campaign_id)


def _render_failed(campaign, exc, result) -> None:
    fail_campaign(campaign, f"The template stopped rendering: {exc}")
    log.error("campaign %s: the template stopped rendering: %s", campaign.campaign_id, exc)
    result.stopped = True


def _send_all(batch: Batch, messages, plan) -> None:
    transport = Transport(Sender.for_campaign(batch.campaign))
    transport.open()
    pacer = Pacer(batch.campaign)
    driver = (TwoPhase if transport.kind == "smtp" else Whole)(batch, transport, pacer)
    waiting = Waiting()  # capped messages rendered ahead of their slot (sending/domains.py)
    started = time.monotonic()
    try:
        for index in range(len(batch.recipients)):
            if stopping.requested():  # the worker is stopping: the rest go back (`_give_back`)
                return
            if not _send_waiting(batch, driver, plan, waiting):
                return
            try:
                out = messages.get(index)
            except RenderFailed:
                driver.render_failed(index)
                raise
            batch.heartbeat()
            wait = plan.wait(out)
            if wait > 0:
                waiting.add(wait, index, out)  # its domain's slot has not come: the others go ahead
                continue
            driver.prepare(index)
            if not send_one(batch, driver, index, out):
                return
        DomainPacer.observe(time.monotonic() - started, len(batch.recipients) - len(batch.remaining))
        while waiting:  # only capped messages are left: sleep until the next one's slot
            if stopping.requested():
                return
            driver.flush()
            driver.sleep_renewing(waiting.next_in())
            if not _send_waiting(batch, driver, plan, waiting):
                return
    finally:
        driver.close()


def _send_waiting(batch, driver, plan, waiting) -> bool:
    """Send the waiting messages whose slot has come; False when the batch must stop."""
    while (due := waiting.pop_due()) is not None:
        index, out = due
        wait = plan.wait(out)
        if wait > 0:  # another sender started this domain late: one interval after it
            waiting.add(wait, index, out)
            continue
        driver.prepare(index)
        if not send_one(batch, driver, index, out):
            return False
    return True
