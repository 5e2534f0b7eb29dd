"""Reads on campaigns, computed by the database."""

import re

from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce

from fliptech.ids import parse_pk

from .exceptions import NotFound
from .models import Campaign, CampaignCounters, CampaignRecipient

Status = CampaignRecipient.Status

# CampaignMetrics counters, each one aggregate over the recipient rows. A recipient
# counts as sent once the server accepted its message, whatever happened next. The
# same sums are kept per campaign in CampaignCounters (see campaigns/counters.py);
# these aggregates recount them from the rows (tests check the two agree).
_COUNTERS = {
    "emails_sent": Count("id", filter=Q(sent_at__isnull=False)),
    "emails_opened": Count("id", filter=Q(opened_at__isnull=False)),
    "emails_clicked": Count("id", filter=Q(clicked_at__isnull=False)),
    "emails_replied": Count("id", filter=Q(replied_at__isnull=False)),
    "emails_bounced": Count("id", filter=Q(bounced_at__isnull=False)),
    "emails_failed": Count("id", filter=Q(status=Status.FAILED)),
    "emails_unsubscribed": Count("id", filter=Q(unsubscribed_at__isnull=False)),
    "emails_complained": Count("id", filter=Q(complained_at__isnull=False)),
    "machine_opens": Coalesce(Sum("machine_open_count"), 0),
    "machine_clicks": Coalesce(Sum("machine_click_count"), 0),
}

EMPTY_COUNTERS = {name: 0 for name in _COUNTERS}

COUNTER_FIELDS = [f.name for f in CampaignCounters._meta.concrete_fields if f.name not in ("id", "campaign", "shard")]


def rate(numerator: int, denominator: int) -> float:
    """A percentage 0–100 rounded to 2 places; 0 when the denominator is 0."""
    return round(100.0 * numerator / denominator, 2) if denominator else 0.0


def metrics_from_counters(counters: dict) -> dict:
    """CampaignMetrics from raw counters: rates on the delivered denominator
    (delivered = sent − bounced), click-to-open on opens, bounces on sent."""
    m = {**EMPTY_COUNTERS, **counters}
    delivered = max(m["emails_sent"] - m["emails_bounced"], 0)
    return {
        **m,
        "emails_delivered": delivered,
        "open_rate": rate(m["emails_opened"], delivered),
        "click_rate": rate(m["emails_clicked"], delivered),
        "reply_rate": rate(m["emails_replied"], delivered),
        "bounce_rate": rate(m["emails_bounced"], m["emails_sent"]),
        "click_to_open_rate": rate(m["emails_clicked"], m["emails_opened"]),
        "unsubscribe_rate": rate(m["emails_unsubscribed"], delivered),
        "complaint_rate": rate(m["emails_complained"], delivered),
    }


def campaign_counters(*, campaign_ids) -> dict:
    """{campaign pk: its counters as a dict (zeros when it has no recipients yet)} in one
    query: the sum over each campaign's counter rows, which the triggers of
    `campaigns.counters` keep exact."""
    rows = (
        CampaignCounters.objects.filter(campaign_id__in=list(campaign_ids))
        .values("campaign_id")
        .annotate(**{f: Sum(f) for f in COUNTER_FIELDS})
        .order_by()
    )
    found = {row.pop("campaign_id"): row for row in rows}
    return {pk: found.get(pk, dict.fromkeys(COUNTER_FIELDS, 0)) for pk in campaign_ids}


def metrics_from_counter_row(counters: dict) -> dict:
    """CampaignMetrics from one campaign's `campaign_counters` dict."""
    return metrics_from_counters(
        {**{k: counters[k] for k in EMPTY_COUNTERS if k in counters}, "emails_failed": counters["status_failed"]}
    )


def campaign_metrics(*, campaign_ids) -> dict:
    """{campaign pk: CampaignMetrics dict} for every id given, in one query: a row per
    campaign, however many recipients it has."""
    return {pk: metrics_from_counter_row(c) for pk, c in campaign_counters(campaign_ids=campaign_ids).items()}


def campaign_get(*, key, queryset=None) -> Campaign:
    """The live campaign named by `key`: its numeric id or its public `camp_…` id.

    Raises NotFound (an Http404) for anything else (unknown, soft-deleted, malformed) — never a 500.
    `queryset` (default: live campaigns) lets a caller add select_related.
    """
    key = str(key)
    pk = parse_pk(key)
    # A NUL byte in a camp_ key would reach PostgreSQL and fail there: the pattern refuses it.
    if pk is not None:
        lookup = {"pk": pk}
    elif re.fullmatch(r"camp_[0-9a-f]{12}", key):
        lookup = {"campaign_id": key}
    else:
        raise NotFound("No campaign matches the given id.")
    try:
        return (Campaign.objects.all() if queryset is None else queryset).get(**lookup)
    except Campaign.DoesNotExist:
        raise NotFound("No campaign matches the given id.") from None


def campaign_pending_count(*, campaign: Campaign) -> int:
    """Recipients not yet sent: pending plus queued (claimed by a sender)."""
    return CampaignRecipient.objects.filter(campaign=campaign, status__in=[Status.PENDING, Status.QUEUED]).count()
