"""Endpoint 2: GET /api/v1/campaigns — filters, sorting, pagination, query counts."""

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns"


def ids(response):
    assert response.status_code == 200, response.json()
    return [c["id"] for c in response.json()["campaigns"]]


def set_created(campaign, when):
    Campaign.all_objects.filter(pk=campaign.pk).update(created_at=when)


def test_list_shape_and_defaults(api):
    CampaignFactory.create_batch(3)
    body = api.get(URL).json()
    assert set(body) == {"campaigns", "total", "page", "page_size", "has_more"}
    assert (body["total"], body["page"], body["page_size"], body["has_more"]) == (3, 1, 20, False)
    assert len(body["campaigns"]) == 3
    assert "metrics" in body["campaigns"][0]


def test_list_answers_with_and_without_trailing_slash(api):
    CampaignFactory()
    assert api.get(URL).status_code == 200
    assert api.get(URL + "/").status_code == 200


def test_list_default_order_is_newest_first(api):
    old, new = CampaignFactory(), CampaignFactory()
    set_created(old, timezone.now() - dt.timedelta(days=2))
    assert ids(api.get(URL)) == [new.pk, old.pk]


def test_list_leaves_out_deleted_campaigns(api):
    live, gone = CampaignFactory(), CampaignFactory()
    Campaign.all_objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    assert ids(api.get(URL)) == [live.pk]


def test_list_metrics_per_campaign(api):
    busy, quiet = CampaignFactory(), CampaignFactory()
    now = timezone.now()
    CampaignRecipientFactory.create_batch(2, campaign=busy, status="sent", sent_at=now)
    by_id = {c["id"]: c for c in api.get(URL).json()["campaigns"]}
    assert by_id[busy.pk]["metrics"]["emails_sent"] == 2
    assert by_id[quiet.pk]["metrics"]["emails_sent"] == 0


# --- filters --------------------------------------------------------------------------


def test_filter_by_status(api):
    running = CampaignFactory(status="running")
    CampaignFactory(status="draft")
    assert ids(api.get(URL, {"status": "running"})) == [running.pk]


def test_filter_by_template_id(api):
    template = EmailTemplateFactory()
    mine = CampaignFactory(template=template)
    CampaignFactory()
    assert ids(api.get(URL, {"template_id": template.pk})) == [mine.pk]
    assert ids(api.get(URL, {"template_id": 424242})) == []


def test_search_matches_name_and_description_case_insensitively(api):
    by_name = CampaignFactory(name="Spring Plumbing Offer")
    by_description = CampaignFactory(name="Other", description="for PLUMBING leads")
    CampaignFactory(name="Unrelated", description="nothing")
    assert set(ids(api.get(URL, {"search": "plumbing"}))) == {by_name.pk, by_description.pk}


def test_search_with_like_wildcards_is_literal(api):
    CampaignFactory(name="abc")
    assert ids(api.get(URL, {"search": "%"})) == []
    assert ids(api.get(URL, {"search": "_"})) == []


def test_filter_by_created_date_range(api):
    now = timezone.now()
    old, mid, new = CampaignFactory(), CampaignFactory(), CampaignFactory()
    set_created(old, dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC))
    set_created(mid, dt.datetime(2025, 3, 15, 23, 30, tzinfo=dt.UTC))
    set_created(new, now)
    assert set(ids(api.get(URL, {"date_from": "2025-02-01"}))) == {mid.pk, new.pk}
    # A plain date as upper bound includes that whole day.
    assert set(ids(api.get(URL, {"date_to": "2025-03-15"}))) == {old.pk, mid.pk}
    assert ids(api.get(URL, {"date_from": "2025-02-01", "date_to": "2025-03-15"})) == [mid.pk]
    # Date-times, naive (UTC) and aware.
    assert ids(api.get(URL, {"date_to": "2025-03-15T23:00:00"})) == [old.pk]
    assert ids(api.get(URL, {"date_from": "2025-03-16T01:00:00+02:00", "date_to": "2025-03-31"})) == [mid.pk]


@pytest.mark.parametrize(
    "params",
    [
        {"status": "sending"},
        {"status": "\x00"},
        {"template_id": "abc"},
        {"template_id": "1.5"},
        {"template_id": 0},
        {"template_id": 99999999999999999999},
        {"date_from": "yesterday"},
        {"date_to": "2025-02-30"},
        {"date_from": "2025-13-01T00:00:00"},
        {"date_from": "0001-01-01T00:00:00+05:00"},
        {"date_to": "9999-12-31T23:00:00-05:00"},
        {"search": "a\x00b"},
        {"search": "x" * 1000},
    ],
)
def test_bad_filter_value_answers_400(api, params):
    CampaignFactory()
    response = api.get(URL, params)
    assert response.status_code == 400
    assert set(params) & set(response.json())


def test_date_to_the_last_day_there_is_includes_everything(api):
    campaign = CampaignFactory()
    assert ids(api.get(URL, {"date_to": "9999-12-31"})) == [campaign.pk]


# --- sorting --------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["created_at", "updated_at", "name", "started_at", "completed_at", "scheduled_at"])
def test_sort_by_each_field_both_ways(api, field):
    base = timezone.now()
    campaigns = [CampaignFactory(name=f"Campaign {c}") for c in "bca"]
    for rank, campaign in zip([1, 2, 0], campaigns, strict=True):
        when = base + dt.timedelta(hours=rank)
        Campaign.all_objects.filter(pk=campaign.pk).update(
            created_at=when, updated_at=when, started_at=when, completed_at=when, scheduled_at=when
        )
    ascending = [campaigns[2].pk, campaigns[0].pk, campaigns[1].pk]  # a, b, c / rank 0, 1, 2
    assert ids(api.get(URL, {"sort_by": field, "sort_order": "asc"})) == ascending
    assert ids(api.get(URL, {"sort_by": field, "sort_order": "desc"})) == ascending[::-1]
    assert ids(api.get(URL, {"sort_by": field})) == ascending[::-1]


@pytest.mark.parametrize(
    "params",
    [
        {"sort_by": "bogus"},
        {"sort_by": "deleted_at"},
        {"sort_by": "-name"},
        {"sort_order": "up"},
        {"sort_by": "name\x00"},
    ],
)
def test_bad_sort_answers_400(api, params):
    response = api.get(URL, params)
    assert response.status_code == 400
    assert set(params) & set(response.json())


# --- pagination -----------------------------------------------------------------------


def test_pages_do_not_overlap_and_has_more_is_right(api):
    created = CampaignFactory.create_batch(5)
    same_time = timezone.now()
    Campaign.objects.update(created_at=same_time)  # ties broken by id
    first = api.get(URL, {"page_size": 2}).json()
    second = api.get(URL, {"page_size": 2, "page": 2}).json()
    third = api.get(URL, {"page_size": 2, "page": 3}).json()
    seen = [c["id"] for page in (first, second, third) for c in page["campaigns"]]
    assert sorted(seen) == sorted(c.pk for c in created)
    assert [first["has_more"], second["has_more"], third["has_more"]] == [True, True, False]
    assert first["total"] == 5 and third["page"] == 3 and len(third["campaigns"]) == 1


def test_page_past_the_end_is_an_empty_list(api):
    CampaignFactory.create_batch(2)
    body = api.get(URL, {"page": 50}).json()
    assert body["campaigns"] == [] and body["total"] == 2 and body["has_more"] is False
    assert api.get(URL, {"page": 10_000_000}).status_code == 200


def test_page_size_max_is_100(api):
    assert api.get(URL, {"page_size": 100}).status_code == 200
    assert api.get(URL, {"page_size": 1}).status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": 0},
        {"page_size": 101},
        {"page_size": -5},
        {"page_size": "ten"},
        {"page": 0},
        {"page": -1},
        {"page": "x"},
        {"page": 99999999999999999999999},
        {"page": "1e3"},
    ],
)
def test_bad_pagination_answers_400(api, params):
    response = api.get(URL, params)
    assert response.status_code == 400
    assert set(params) & set(response.json())


@pytest.mark.parametrize("rows", [2, 25])
def test_list_query_count_does_not_grow_with_rows(api, django_assert_max_num_queries, rows):
    for campaign in CampaignFactory.create_batch(rows):
        CampaignRecipientFactory(campaign=campaign)
    # token + user, the user's permissions, count, page (with created_by), metrics for the page
    with django_assert_max_num_queries(5):
        response = api.get(URL, {"page_size": 100})
    assert len(response.json()["campaigns"]) == rows
