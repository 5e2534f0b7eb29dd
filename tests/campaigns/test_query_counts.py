"""The hot read endpoints cost a fixed number of queries, whatever the page or campaign
size (no N+1). Each test names the queries it pins."""

import pytest

from tests.factories import CampaignFactory, CampaignRecipientFactory

pytestmark = pytest.mark.django_db


def campaigns_with_recipients(n, recipients=2):
    made = [CampaignFactory() for _ in range(n)]
    for campaign in made:
        for _ in range(recipients):
            CampaignRecipientFactory(campaign=campaign)
    return made


@pytest.mark.parametrize("key", ["pk", "campaign_id"])
def test_campaign_detail_costs_three_queries(api, django_assert_num_queries, key):
    campaign = campaigns_with_recipients(1, recipients=5)[0]

    # Expect 4 queries:
    # * the token and its user (authentication)
    # * the user's permissions, its own and its groups' (fliptech.authentication.load_permissions)
    # * the campaign with its creator (select_related)
    # * its metrics: one SUM over its counter rows
    with django_assert_num_queries(4):
        response = api.get(f"/api/v1/campaigns/{getattr(campaign, key)}")

    assert response.status_code == 200
    assert response.json()["metrics"]["emails_sent"] == 0


@pytest.mark.parametrize("size", [1, 15])
def test_campaign_list_costs_four_queries_whatever_the_page_size(api, django_assert_num_queries, size):
    campaigns_with_recipients(size)

    # Expect 5 queries:
    # * the token and its user (authentication)
    # * the user's permissions (fliptech.authentication.load_permissions)
    # * COUNT of the live campaigns (the answer's `total`)
    # * the page of campaigns with their creators (select_related)
    # * the page's metrics: one grouped SUM over the counter rows of every campaign shown
    with django_assert_num_queries(5):
        response = api.get("/api/v1/campaigns", {"page_size": 20})

    assert response.status_code == 200
    assert len(response.json()["campaigns"]) == size


@pytest.mark.parametrize("size", [1, 30])
def test_recipients_page_costs_four_queries_whatever_its_size(api, django_assert_num_queries, size):
    campaign = campaigns_with_recipients(1, recipients=size)[0]

    # Expect 5 queries:
    # * the token and its user (authentication)
    # * the user's permissions (fliptech.authentication.load_permissions)
    # * the campaign (campaign_get)
    # * COUNT of its recipients matching the filters (the answer's `total`)
    # * the page of recipients
    with django_assert_num_queries(5):
        response = api.get(f"/api/v1/campaigns/{campaign.pk}/recipients", {"page_size": 50})

    assert response.status_code == 200
    assert len(response.json()["recipients"]) == size
