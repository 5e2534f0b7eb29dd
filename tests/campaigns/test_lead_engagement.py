"""The lead's engagement rollup (campaigns/lead_engagement.py): after every kind of write to
recipient rows — the real tracking hit, a send and its bounce, a send given back, a deleted
row, a row moved to another lead — the lead's columns equal a recount from its rows."""

from datetime import timedelta

import pytest
from django.db.models import Case, Max, When
from django.test import Client
from django.utils import timezone

from campaigns.models import CampaignRecipient, Lead
from campaigns.segments.selectors import rules_members
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory
from tests.tracking.conftest import HUMAN_UA

pytestmark = pytest.mark.django_db

R = CampaignRecipient.Status


def recount(lead) -> dict:
    rows = CampaignRecipient.objects.filter(lead=lead)
    return rows.aggregate(
        last_received_at=Max(Case(When(bounced_at__isnull=True, then="sent_at"))),
        last_opened_at=Max("opened_at"),
        last_clicked_at=Max("clicked_at"),
        last_replied_at=Max("replied_at"),
    )


def stored(lead) -> dict:
    return Lead.objects.filter(pk=lead.pk).values(*recount(lead)).get()


def ago(days: float):
    return timezone.now() - timedelta(days=days)


def test_each_kind_of_write_keeps_the_rollup_equal_to_a_recount():
    lead = LeadFactory()
    c1, c2 = CampaignFactory(), CampaignFactory()
    first = CampaignRecipientFactory(campaign=c1, lead=lead)  # pending: nothing yet
    assert stored(lead) == recount(lead) == dict.fromkeys(recount(lead))

    CampaignRecipient.objects.filter(pk=first.pk).update(status=R.SENT, sent_at=ago(10))
    second = CampaignRecipientFactory(campaign=c2, lead=lead, status=R.SENT, sent_at=ago(2), opened_at=ago(1))
    assert stored(lead) == recount(lead)
    assert stored(lead)["last_received_at"] == second.sent_at

    # The later message bounces: the lead's last received message is the earlier one again.
    CampaignRecipient.objects.filter(pk=second.pk).update(status=R.BOUNCED, bounced_at=ago(1))
    assert stored(lead) == recount(lead)
    assert stored(lead)["last_received_at"] == CampaignRecipient.objects.get(pk=first.pk).sent_at

    # A click and a reply on the first; a send given back (the sender's `unstart`).
    CampaignRecipient.objects.filter(pk=first.pk).update(clicked_at=ago(5), replied_at=ago(4))
    assert stored(lead) == recount(lead)
    CampaignRecipient.objects.filter(pk=first.pk).update(sent_at=None)
    assert stored(lead) == recount(lead)
    assert stored(lead)["last_received_at"] is None

    # The row deleted; a row moved to another lead (both leads recounted).
    other = LeadFactory()
    CampaignRecipient.objects.filter(pk=second.pk).update(lead=other)
    assert (stored(lead), stored(other)) == (recount(lead), recount(other))
    CampaignRecipient.objects.filter(pk=first.pk).delete()
    assert stored(lead)["last_opened_at"] is None and stored(lead)["last_clicked_at"] is None
    # A reply stays a reply (the lead's last reply is never moved back).
    assert stored(lead)["last_replied_at"] is not None


def test_a_real_human_open_sets_last_opened_and_a_machine_open_does_not():
    lead = LeadFactory()
    recipient = CampaignRecipientFactory(lead=lead, status=R.SENT, sent_at=ago(1))
    bot = LeadFactory()
    scanned = CampaignRecipientFactory(lead=bot, status=R.SENT, sent_at=ago(1))

    assert Client(HTTP_USER_AGENT=HUMAN_UA).get(f"/t/o/{recipient.token}.gif").status_code == 200
    assert Client(HTTP_USER_AGENT="Mozilla/5.0").get(f"/t/o/{scanned.token}.gif").status_code == 200

    opened_at = CampaignRecipient.objects.get(pk=recipient.pk).opened_at
    assert opened_at is not None and stored(lead)["last_opened_at"] == opened_at
    assert stored(bot)["last_opened_at"] is None
    opened = {"match": "all", "conditions": [{"field": "engagement", "op": "opened", "value": {"within_days": 1}}]}
    assert list(rules_members(opened).values_list("pk", flat=True)) == [lead.pk]
    not_opened = {"match": "all", "conditions": [{"field": "engagement", "op": "not_opened", "value": {}}]}
    assert list(rules_members(not_opened).values_list("pk", flat=True)) == [bot.pk]


def test_an_any_campaign_rule_is_one_column_test_on_the_lead_table():
    rules = {"match": "all", "conditions": [{"field": "engagement", "op": "not_clicked", "value": {"within_days": 30}}]}
    sql = str(rules_members(rules).query)
    assert "campaigns_campaignrecipient" not in sql
    assert "last_received_at" in sql and "last_clicked_at" in sql
