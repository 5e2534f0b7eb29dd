"""Query counts of the new list endpoints, whatever the list's length."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignStep
from tests.factories import CampaignFactory, CampaignRecipientFactory
from tracking.models import Reply

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("n", [1, 8])
def test_steps_list_costs_four_queries(api, django_assert_num_queries, n):
    campaign = CampaignFactory()
    for i in range(1, n + 1):
        CampaignStep.objects.create(campaign=campaign, position=i, delay=timedelta(days=i), template=campaign.template)
    # Expect 4: * the API token and its user  * the user's and its groups' permissions (one
    # query, fliptech.authentication.load_permissions)  * the campaign  * its steps
    with django_assert_num_queries(4):
        assert len(api.get(f"/api/v1/campaigns/{campaign.pk}/steps").json()["steps"]) == n


@pytest.mark.parametrize("n", [1, 30])
def test_replies_page_costs_five_queries(api, django_assert_num_queries, n):
    campaign = CampaignFactory()
    for i in range(n):
        recipient = CampaignRecipientFactory(campaign=campaign)
        Reply.objects.create(
            campaign_id=campaign.pk, recipient=recipient, message_id=f"<r{i}@x>", received_at=timezone.now()
        )
    # Expect 5: * the API token and its user  * the user's and its groups' permissions (one
    # query)  * the campaign  * the count  * the page with its recipients
    with django_assert_num_queries(5):
        assert len(api.get(f"/api/v1/campaigns/{campaign.pk}/replies").json()["replies"]) == n
