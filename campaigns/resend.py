"""Resend and retry (contract: "Resend and retry").

- `campaign_resend`: a new campaign (draft, or scheduled at `scheduled_at`) with the same
  content and steps, whose recipients are the original's people whose message was
  delivered — sent, not bounced, not unsubscribed, not suppressed — and who did not open /
  click / reply (people only: machine opens and clicks never set `opened_at`/`clicked_at`).
  One INSERT … SELECT, whatever the size.
- `campaign_retry`: completed/failed → running; the recipients that failed for a reason that
  may pass now ("gave up after N attempts: …", the transient refusals and connection
  trouble that exhausted SEND_MAX_ATTEMPTS) go back to `pending`; never one interrupted in
  flight, permanently refused or suppressed.
"""

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower
from django.utils import timezone

from . import queue, states
from .exceptions import BadRequest
from .models import Campaign, CampaignRecipient, CampaignStep, Suppression
from .services import campaign_create

R = CampaignRecipient.Status
AUDIENCES = {
    "non_openers": Q(opened_at__isnull=True),
    "non_clickers": Q(clicked_at__isnull=True),
    "non_repliers": Q(replied_at__isnull=True),
}
# What a failure that may pass now looks like (sending.store.mark_transient writes it).
RETRYABLE = Q(error_message__startswith="gave up after ")


def resend_audience(campaign, audience: str):
    """The original's recipients a resend to `audience` goes to."""
    suppressed = Suppression.objects.filter(email=OuterRef("email_address_lower"))
    return (
        CampaignRecipient.objects.filter(campaign_id=campaign.pk, status=R.SENT, sent_at__isnull=False)
        .filter(bounced_at__isnull=True, unsubscribed_at__isnull=True, lead__isnull=False)
        .filter(AUDIENCES[audience])
        .annotate(email_address_lower=Lower("email_address"))
        .exclude(Exists(suppressed))
    )


def campaign_resend(*, campaign, user, audience: str, name=None, subject=None, scheduled_at=None) -> Campaign:
    if audience not in AUDIENCES:
        raise BadRequest(f"Unknown audience {audience!r}.", code="invalid_audience")
    states.require(campaign, states.RESENDABLE, "resend")
    with transaction.atomic():
        fields = {
            f: getattr(campaign, f)
            for f in states.CONTENT_FIELDS | {"description", "send_rate_per_hour"}
            if hasattr(campaign, f)
        }
        fields["name"] = (name or f"{campaign.name} (resend to {audience.replace('_', '-')})")[:255]
        if subject:
            fields["subject"] = subject
        new = campaign_create(user=user, **fields)
        CampaignStep.objects.bulk_create(
            CampaignStep(
                campaign=new,
                position=s.position,
                delay=s.delay,
                condition=s.condition,
                template_id=s.template_id,
                subject=s.subject,
            )
            for s in CampaignStep.objects.filter(campaign_id=campaign.pk)
        )
        # One read of the audience, then batched inserts: each row needs its own random token.
        found = list(
            resend_audience(campaign, audience).values_list("lead_id", "email_address", "first_name", "last_name")
        )
        CampaignRecipient.objects.bulk_create(
            [
                CampaignRecipient(campaign=new, lead_id=lead, email_address=email, first_name=first, last_name=last)
                for lead, email, first, last in found
            ],
            batch_size=2000,
        )
        Campaign.objects.filter(pk=new.pk).update(total_recipients=len(found))
        new.refresh_from_db()
    if scheduled_at is not None:
        from .services import campaign_launch

        new = campaign_launch(campaign=new, send_immediately=False, scheduled_at=scheduled_at)
    return new


def campaign_retry(*, campaign) -> tuple[int, Campaign]:
    """(requeued, campaign): the retryable failures back to `pending`, the campaign running."""
    suppressed = Suppression.objects.filter(email=Lower(OuterRef("email_address")))
    with transaction.atomic():
        states.transition(campaign=campaign, action="retry", completed_at=None, failure_reason="")
        requeued = (
            CampaignRecipient.objects.filter(campaign_id=campaign.pk, status=R.FAILED)
            .filter(RETRYABLE)
            .exclude(Exists(suppressed))
            .update(status=R.PENDING, attempts=0, not_before=None, error_message="", updated_at=timezone.now())
        )
        queue.send_on_commit(queue.SEND_CAMPAIGN, campaign.pk)
    return requeued, campaign
