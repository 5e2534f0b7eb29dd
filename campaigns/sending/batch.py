"""The batch: claim, render, send every message through the one step, give back the rest."""

import logging

from django.conf import settings
from django.db import connection

from ..exceptions import TemplateError
from ..models import Campaign
from ..pacing import Pacer, batch_size_for
from . import store
from .drivers import Overlapped, Plain
from .errors import TransientFailure
from .finish import fail_campaign, finish_if_done
from .mime import Sender
from .prepare import Prepared, RenderAhead, RenderFailed, compiled_for, prepare_batch
from .step import Batch, BatchResult, send_one
from .transport import Transport

log = logging.getLogger(__name__)


def send_batch(campaign_id: int, *, on_claimed=None) -> BatchResult:
    """Claim one batch of `campaign_id` and send it. Raises TransientFailure (after putting
    every unsent row back) when the mail server should be retried later.

    `on_claimed(full)` runs right after the claim committed (the task uses it to queue the
    next batch, so several workers share a campaign). Precondition: none; safe to run any
    number of times, concurrently, for any campaign in any status.
    """
    result = BatchResult()
    campaign = Campaign.all_objects.select_related("template").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != Campaign.Status.RUNNING:
        result.stopped = True
        return result
    size = batch_size_for(campaign)
    recipients = store.claim_batch(campaign=campaign, size=size)
    result.claimed = len(recipients)
    if not recipients:
        result.finished = finish_if_done(campaign_id)
        return result
    if on_claimed is not None:
        on_claimed(len(recipients) >= size)
    batch = Batch(campaign=campaign, recipients=recipients, result=result)
    messages = None
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
            raise
        except Exception as exc:  # anything a template filter raises while rendering up front
            if messages is not None:
                raise
            _render_failed(campaign, exc, result)
    finally:
        if messages is not None:
            messages.close()
        result.released += store.release(batch.remaining)
    if not result.stopped:
        result.finished = finish_if_done(campaign_id)
    return result


def _render_failed(campaign, exc, result) -> None:
    fail_campaign(campaign, f"The template stopped rendering: {exc}")
    log.error("campaign %s: the template stopped rendering: %s", campaign.campaign_id, exc)
    result.stopped = True


def _driver(batch, transport, pacer):
    if (
        connection.vendor == "postgresql"
        and not pacer.active
        and transport.kind == "smtp"
        and settings.SEND_OVERLAP_DATABASE
        and transport.pipelined()
    ):
        return Overlapped(batch, transport)
    return Plain(batch, transport, pacer)


def _send_all(batch: Batch, messages) -> None:
    transport = Transport(Sender.for_campaign(batch.campaign))
    transport.open()
    driver = _driver(batch, transport, Pacer(batch.campaign))
    try:
        for index in range(len(batch.recipients)):
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
