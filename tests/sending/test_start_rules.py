"""The start conditions are written twice: in SQL (the start statement, `store.start`) and in
Python (`store.start_refusal`, which says why a start was refused). Both run here on the same
cases, on whichever database the suite uses (PostgreSQL in CI), so they cannot drift."""

import itertools

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from campaigns.sending import store
from tests.factories import CampaignFactory, CampaignRecipientFactory, SuppressionFactory

pytestmark = pytest.mark.django_db
R = CampaignRecipient.Status

CASES = list(
    itertools.product(
        [R.QUEUED, R.PENDING, R.SENT],  # the row's status
        [False, True],  # already handed over (in flight)
        [Campaign.Status.RUNNING, Campaign.Status.PAUSED, Campaign.Status.COMPLETED],
        [False, True],  # address suppressed
    )
)


@pytest.mark.parametrize(("status", "started", "campaign_status", "suppressed"), CASES)
def test_sql_and_python_start_rules_agree(status, started, campaign_status, suppressed):
    campaign = CampaignFactory(status=campaign_status)
    row = CampaignRecipientFactory(
        campaign=campaign, status=status, handed_at=timezone.now() if started else None, email_address="Ann@Example.net"
    )
    if suppressed:
        SuppressionFactory(email="ann@example.net")
    row.refresh_from_db()
    why, _ = store.start_refusal(row, campaign.pk)
    allowed = store.start(row.pk, campaign.pk)
    assert allowed == (why == "")
    expected = status == R.QUEUED and not started and campaign_status == Campaign.Status.RUNNING and not suppressed
    assert allowed == expected
