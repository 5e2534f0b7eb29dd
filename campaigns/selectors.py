"""Reads on campaigns, computed by the database."""

import re

from django.db.models import BigIntegerField, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from fliptech.ids import parse_pk

from . import counters
from .exceptions import NotFound
from .models import Campaign, CampaignCounters, CampaignRecipient

Status = CampaignRecipient.Status

# CampaignMetrics' counters are columns of CampaignCounters, which database triggers keep
# equal to sums over the recipient rows (campaigns/counters.py lists them, once). A recipient
# counts as sent once the server accepted its message, whatever happened next.
COUNTER_FIELDS = list(counters.COUNTERS)
EMPTY_COUNTERS = dict.fromkeys(counters.METRIC_COLUMNS, 0)

# Each counter recounted from the recipient rows with the triggers' own expression: what
# `campaign_counters` must equal (the tests check that the two agree).
RECOUNT = {
    column: Coalesce(
        Sum(RawSQL(counters.row_expression(column, CampaignRecipient._meta.db_table), (), BigIntegerField())), 0
    )
    for column in counters.COUNTERS
}


def rate(numerator: int, denominator: int) -> float:
    """A percentage 0–100 rounded to 2 places; 0 when the denominator is 0."""
    return round(100.0 * numerator / denominator, 2) if denominator else 0.0


def metrics_from_counters(values: dict) -> dict:
    """CampaignMetrics from raw counters: rates on the delivered denominator
    (delivered = sent − bounced), click-to-open on opens, bounces on sent."""
    m = {**EMPTY_COUNTERS, **values}
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


def metrics_from_counter_row(row: dict) -> dict:
    """CampaignMetrics from one campaign's `campaign_counters` dict."""
    return metrics_from_counters({metric: row[column] for metric, column in counters.METRIC_COLUMNS.items()})


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


def campaign_live(*, campaign: Campaign) -> dict:
    """The numbers the campaign page refreshes while sending, from the counter rows alone
    (one query, whatever the campaign's size): status, recipients by outcome, rates and the
    share of recipients done (no longer pending or queued)."""
    row = campaign_counters(campaign_ids=[campaign.pk])[campaign.pk]
    metrics = metrics_from_counter_row(row)
    recipients = row["recipients"]
    waiting = row["status_pending"] + row["status_queued"]
    return {
        "status": campaign.status,
        "status_label": campaign.get_status_display(),
        "recipients": recipients,
        "pending": waiting,
        "progress_percentage": round(100 * (recipients - waiting) / recipients, 1) if recipients else 0.0,
        **{
            key: metrics[key]
            for key in (
                "emails_sent",
                "emails_delivered",
                "emails_opened",
                "emails_clicked",
                "emails_bounced",
                "emails_failed",
                "emails_unsubscribed",
                "open_rate",
                "click_rate",
                "bounce_rate",
            )
        },
    }
