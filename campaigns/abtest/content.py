"""The campaign as one variant's message sees it: the variant's subject, sender name and
template over the campaign's own. The sender renders every message through `campaign_for`
(campaigns/sending/prepare.py), so a variant changes nothing else about sending.

A view is an unsaved copy of the campaign (same pk), cached per process by the campaign,
its `updated_at` and the variant, so the compiled-template cache keys it apart by subject and
template like any campaign.
"""

import copy

from ..models import EmailTemplate

_views: dict = {}


def variant_index(campaign, recipient) -> int | None:
    """The variant whose content `recipient` gets (None without a test). Every row the
    sender can claim in an A/B campaign has one (`assign`)."""
    return recipient.variant if campaign.ab_test else None


def campaign_for(campaign, recipient):
    """`campaign`, or the view of it that `recipient`'s variant sees."""
    index = variant_index(campaign, recipient)
    if index is None:
        return campaign
    key = (campaign.pk, campaign.updated_at, index)
    view = _views.get(key)
    if view is None:
        variant = campaign.ab_test["variants"][index]
        view = copy.copy(campaign)
        view.subject = variant.get("subject") or campaign.subject
        view.from_name = variant.get("from_name") or campaign.from_name
        if variant.get("template_id"):
            view.template = EmailTemplate.objects.get(pk=variant["template_id"])
        if len(_views) > 256:
            _views.clear()
        _views[key] = view
    return view


def views_of(campaign) -> list:
    """Every variant's view (for checks at launch)."""
    if not campaign.ab_test:
        return [campaign]

    class _Row:
        def __init__(self, index):
            self.variant = index

    return [campaign_for(campaign, _Row(i)) for i in range(len(campaign.ab_test["variants"]))]
