"""Starting a test at launch, choosing the winner, and sending the rest with it.

- `start` (in `campaign_launch`'s transaction): checks every variant renders, then splits.
- `decide_due` (celery-beat, every 10 s): every test with `winner_selection` "auto" whose
  `duration` has passed since the campaign started is decided by the best rate (people only);
  a campaign paused meanwhile is decided too, and its rest goes out when it resumes.
- `choose` (`POST …/ab/winner`): a person picks the winner, before or instead of beat.

A decision is one row (`ABTestDecision`, the campaign its primary key) written in the same
transaction as the release of the held recipients: two deciders (beat twice, beat and a
person) cannot both win — the second finds the row and changes nothing (409 for a person).
"""

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from .. import queue, rendering, states
from ..exceptions import BadRequest, InvalidState
from ..models import ABTestDecision, Campaign
from . import assign, config, content, results

log = logging.getLogger(__name__)

# The statuses in which a test can be decided: it has started and not ended.
DECIDABLE = frozenset({states.RUNNING, states.PAUSED})


def start(*, campaign: Campaign) -> None:
    """Split the campaign's recipients for its test, if it has one. Raises TemplateError
    (400) when a variant's subject or template does not render. Precondition: inside the
    launch's transaction."""
    if not campaign.ab_test:
        return
    for view in content.views_of(campaign):
        rendering.check_campaign_renders(campaign=view)
    assign.split(campaign=campaign, config=campaign.ab_test)


def on_resume(*, campaign: Campaign) -> None:
    """Settle recipients added while paused (see `assign.settle_unassigned`)."""
    if not campaign.ab_test:
        return
    decision = ABTestDecision.objects.filter(campaign_id=campaign.pk).first()
    assign.settle_unassigned(campaign=campaign, winner=decision.winner_index if decision else None)


def _decide(campaign: Campaign, index: int, by: str) -> ABTestDecision | None:
    """Record the winner and release the rest; None when another decider was first."""
    name = campaign.ab_test["variants"][index]["name"]
    try:
        with transaction.atomic():
            decision = ABTestDecision.objects.create(
                campaign=campaign, winner=name, winner_index=index, decided_by=by, decided_at=timezone.now()
            )
            released = assign.release(campaign=campaign, winner=index)
            if campaign.status == states.SENDING:
                queue.send_on_commit(queue.SEND_CAMPAIGN, campaign.pk)
    except IntegrityError:
        return None
    log.info("campaign %s: A/B winner %r (%s), %d recipients released", campaign.campaign_id, name, by, released)
    return decision


def choose(*, campaign: Campaign, variant: str) -> ABTestDecision:
    """A person picks the winner by name. 409 without a test, before launch, after the end or
    once decided; 400 for a name that is not a variant."""
    if not campaign.ab_test:
        raise InvalidState("This campaign has no A/B test.", code="no_ab_test")
    names = [v["name"] for v in campaign.ab_test["variants"]]
    if variant not in names:
        raise BadRequest(
            f"No variant is named {variant!r}; the variants are {', '.join(names)}.", code="unknown_variant"
        )
    states.require(campaign, DECIDABLE, "choose the A/B winner of")
    decision = _decide(campaign, names.index(variant), "manual")
    if decision is None:
        raise InvalidState("The A/B test is already decided.", code="already_decided")
    return decision


def decide_due(now=None) -> list[int]:
    """Decide every automatic test whose duration has passed; the campaigns decided."""
    now = now or timezone.now()
    decided = []
    candidates = Campaign.objects.filter(
        ab_test__isnull=False, status__in=DECIDABLE, started_at__isnull=False, ab_decision__isnull=True
    )
    for campaign in candidates:
        test = campaign.ab_test
        if not test or test.get("winner_selection") != "auto" or campaign.started_at + config.duration_of(test) > now:
            continue
        best, _ = results.leader(results.ranking(test, results.variant_counts(campaign)))
        if _decide(campaign, best["index"], "auto") is not None:
            decided.append(campaign.pk)
    return decided
