"""Writes on a campaign's follow-up steps (`/campaigns/{id}/steps`): add, change, remove.

Allowed while the campaign may be edited (`states.STEPS_EDITABLE`: draft, scheduled,
paused), else 409. Each write locks the campaign row first, so a launch or resume and a
step change do not interleave. Positions are 1, 2, … in order: a new step goes last, and
removing one moves the later ones up (docs/steps.md says what that means for follow-ups
already scheduled).
"""

from django.db import transaction
from django.db.models import F, Max

from . import states
from .exceptions import NotFound
from .models import Campaign, CampaignStep, RecipientMessage


def _locked(campaign) -> Campaign:
    locked = Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
    if locked is None:
        raise NotFound("No campaign matches the given id.")
    states.require(locked, states.STEPS_EDITABLE, "change the steps of")
    return locked


def step_get(*, campaign, key) -> CampaignStep:
    from fliptech.ids import parse_pk

    pk = parse_pk(key)
    step = (
        CampaignStep.objects.filter(campaign_id=campaign.pk, pk=pk).select_related("template").first() if pk else None
    )
    if step is None:
        raise NotFound("No step of this campaign matches the given id.")
    return step


def step_create(*, campaign, template, delay, condition=CampaignStep.Condition.NO_REPLY, subject="") -> CampaignStep:
    with transaction.atomic():
        _locked(campaign)
        last = CampaignStep.objects.filter(campaign_id=campaign.pk).aggregate(n=Max("position"))["n"] or 0
        return CampaignStep.objects.create(
            campaign_id=campaign.pk,
            position=last + 1,
            template=template,
            delay=delay,
            condition=condition,
            subject=subject,
        )


def step_update(*, step, **fields) -> CampaignStep:
    with transaction.atomic():
        _locked(step.campaign)
        for name, value in fields.items():
            setattr(step, name, value)
        step.save()
    return step


def step_delete(*, step) -> None:
    """Remove the step; later ones move up one place. A recipient waiting for the removed
    step now waits for the one that takes its place; where none does, the follow-up is
    cancelled and the sequence finishes."""
    from . import sequences

    with transaction.atomic():
        _locked(step.campaign)
        campaign_id, position = step.campaign_id, step.position
        step.delete()
        # Two moves, so the unique (campaign, position) never sees two rows at once.
        later = CampaignStep.objects.filter(campaign_id=campaign_id, position__gt=position)
        later.update(position=F("position") + 10_000)
        CampaignStep.objects.filter(campaign_id=campaign_id, position__gt=10_000).update(
            position=F("position") - 10_001
        )
        if not CampaignStep.objects.filter(campaign_id=campaign_id, position=position).exists():
            sequences.finish(
                RecipientMessage.objects.filter(
                    campaign_id=campaign_id, position=position, status=RecipientMessage.Status.PENDING
                ).values_list("recipient_id", flat=True)
            )


def renumber(campaign_id) -> None:
    """Positions 1, 2, … in their current order (the admin's inline may leave gaps or ties)."""
    with transaction.atomic():
        rows = list(CampaignStep.objects.filter(campaign_id=campaign_id).order_by("position", "pk"))
        changed = [s for i, s in enumerate(rows, start=1) if s.position != i]
        if not changed:
            return
        CampaignStep.objects.filter(pk__in=[s.pk for s in changed]).update(position=F("position") + 10_000)
        for i, s in enumerate(rows, start=1):
            if s.position != i:
                CampaignStep.objects.filter(pk=s.pk).update(position=i)
