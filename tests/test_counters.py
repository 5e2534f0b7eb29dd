"""CampaignCounters, kept by database triggers, always equal a recount of the recipient rows."""

import pytest
from django.utils import timezone

from campaigns import counters
from campaigns.models import Campaign, CampaignCounters, CampaignRecipient
from campaigns.selectors import COUNTER_FIELDS, RECOUNT, campaign_counters, campaign_metrics
from tests.factories import CampaignFactory, CampaignRecipientFactory

pytestmark = pytest.mark.django_db


def recount(campaign):
    """Every counter recounted from the campaign's recipient rows (the triggers' own
    expressions), and the status counters once more with the ORM."""
    agg = CampaignRecipient.objects.filter(campaign=campaign).aggregate(**RECOUNT)
    for status in CampaignRecipient.Status.values:
        assert agg[f"status_{status}"] == CampaignRecipient.objects.filter(campaign=campaign, status=status).count()
    return agg


def stored(campaign):
    return campaign_counters(campaign_ids=[campaign.pk])[campaign.pk]


def assert_counters_match(campaign):
    assert stored(campaign) == recount(campaign)


def test_the_counters_are_listed_once():
    """The model's columns, the selectors' columns and the triggers' sums are one list."""
    columns = [f.name for f in CampaignCounters._meta.concrete_fields if f.name not in ("id", "campaign", "shard")]
    assert columns == list(counters.COUNTERS) == COUNTER_FIELDS == list(RECOUNT)
    for statement in counters.postgresql_sql()[:2] + counters.sqlite_sql():
        assert all(column in statement for column in counters.COUNTERS)
    metrics = campaign_metrics(campaign_ids=[CampaignFactory().pk])
    assert set(counters.METRIC_COLUMNS) <= set(next(iter(metrics.values())))


def test_a_campaign_without_recipients_has_zero_metrics():
    campaign = CampaignFactory()
    metrics = campaign_metrics(campaign_ids=[campaign.pk])[campaign.pk]
    assert metrics["emails_sent"] == 0
    assert metrics["open_rate"] == 0


def test_counters_follow_inserts_updates_and_deletes():
    campaign = CampaignFactory()
    other = CampaignFactory()
    recipients = [CampaignRecipientFactory(campaign=campaign) for _ in range(6)]
    CampaignRecipientFactory(campaign=other)
    now = timezone.now()
    ids = [r.pk for r in recipients]

    CampaignRecipient.objects.filter(pk__in=ids[:4]).update(status="sent", sent_at=now)
    CampaignRecipient.objects.filter(pk__in=ids[:2]).update(opened_at=now, open_count=3, machine_open_count=1)
    CampaignRecipient.objects.filter(pk=ids[0]).update(clicked_at=now, click_count=2)
    CampaignRecipient.objects.filter(pk=ids[3]).update(status="bounced", bounced_at=now)
    CampaignRecipient.objects.filter(pk=ids[4]).update(status="failed", error_message="550")
    CampaignRecipient.objects.filter(pk=ids[5]).delete()
    assert_counters_match(campaign)
    assert_counters_match(other)

    metrics = campaign_metrics(campaign_ids=[campaign.pk])[campaign.pk]
    assert metrics["emails_sent"] == 4
    assert metrics["emails_bounced"] == 1
    assert metrics["emails_delivered"] == 3
    assert metrics["emails_opened"] == 2
    assert metrics["open_rate"] == 66.67
    assert metrics["click_to_open_rate"] == 50.0
    assert metrics["emails_failed"] == 1
    assert metrics["machine_opens"] == 2


def test_bulk_insert_counts_every_row():
    campaign = CampaignFactory()
    leads = [CampaignRecipientFactory.build(campaign=campaign) for _ in range(30)]
    for r in leads:
        r.lead.save()
        r.lead_id = r.lead.pk
    CampaignRecipient.objects.bulk_create(leads)
    assert stored(campaign)["recipients"] == 30
    assert stored(campaign)["status_pending"] == 30
    assert_counters_match(campaign)


def test_deleting_a_campaign_with_sent_recipients_leaves_no_counter_row():
    campaign = CampaignFactory()
    CampaignRecipientFactory(campaign=campaign, status="sent", sent_at=timezone.now())
    Campaign.all_objects.filter(pk=campaign.pk).delete()
    assert not CampaignCounters.objects.filter(campaign_id=campaign.pk).exists()


def test_metrics_of_many_campaigns_cost_one_query(django_assert_num_queries):
    campaigns = [CampaignFactory() for _ in range(5)]
    for campaign in campaigns:
        CampaignRecipientFactory(campaign=campaign, status="sent", sent_at=timezone.now())
    with django_assert_num_queries(1):
        metrics = campaign_metrics(campaign_ids=[c.pk for c in campaigns])
    assert all(m["emails_sent"] == 1 for m in metrics.values())


def test_counters_spread_over_shards_still_sum_exactly(require_postgres):
    """On PostgreSQL each statement adds to a counter row picked at random (so concurrent
    writers do not queue on one row); the campaign's figures are the sum over its rows."""
    campaign = CampaignFactory()
    recipients = [CampaignRecipientFactory(campaign=campaign, status="sent", sent_at=timezone.now()) for _ in range(40)]
    for r in recipients:
        CampaignRecipient.objects.filter(pk=r.pk).update(opened_at=timezone.now(), open_count=3)
    assert CampaignCounters.objects.filter(campaign=campaign).count() > 1
    assert_counters_match(campaign)
    assert stored(campaign)["total_opens"] == 120

    CampaignRecipient.objects.filter(pk__in=[r.pk for r in recipients[:15]]).delete()
    assert_counters_match(campaign)
    assert stored(campaign)["recipients"] == 25
