"""GET /api/v1/campaigns/{id}/recipients — endpoint 8."""

import pytest
from django.utils import timezone

from campaigns.models import CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "campaign_id",
    "lead_id",
    "email_address",
    "status",
    "sent_at",
    "opened_at",
    "clicked_at",
    "replied_at",
    "bounced_at",
    "error_message",
    "created_at",
    "updated_at",
    "first_name",
    "last_name",
    "message_id",
    "open_count",
    "click_count",
    "unsubscribed_at",
    # the follow-up sequence (contract: Follow-ups, replies, resend)
    "current_step",
    "next_step_at",
    "sequence_status",
    "stop_reason",
}


def url(campaign, query=""):
    return f"/api/v1/campaigns/{campaign.pk}/recipients{query}"


def ids(response):
    return [r["id"] for r in response.json()["recipients"]]


def test_list_shape_and_every_contract_field(api):
    campaign = CampaignFactory()
    recipient = CampaignRecipientFactory(campaign=campaign, message_id="<m1@example.com>", open_count=2)
    CampaignRecipientFactory()  # another campaign's

    response = api.get(url(campaign))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"recipients", "total", "page", "page_size", "has_more"}
    assert (body["total"], body["page"], body["page_size"], body["has_more"]) == (1, 1, 50, False)
    [row] = body["recipients"]
    assert set(row) == FIELDS
    assert row["campaign_id"] == campaign.pk
    assert row["lead_id"] == recipient.lead_id
    assert (row["email_address"], row["first_name"], row["message_id"], row["open_count"]) == (
        recipient.email_address,
        recipient.first_name,
        "<m1@example.com>",
        2,
    )


def test_recipient_whose_lead_was_deleted_lists_with_null_lead_id(api):
    recipient = CampaignRecipientFactory()
    recipient.lead.delete()

    [row] = api.get(url(recipient.campaign)).json()["recipients"]

    assert row["lead_id"] is None
    assert row["email_address"] == recipient.email_address


def test_campaign_may_be_named_by_public_id_with_or_without_slash(api):
    recipient = CampaignRecipientFactory()
    base = f"/api/v1/campaigns/{recipient.campaign.campaign_id}/recipients"

    assert ids(api.get(base)) == ids(api.get(base + "/")) == [recipient.pk]


@pytest.mark.parametrize("status", ["pending", "sent", "failed"])
def test_filter_by_status(api, status):
    campaign = CampaignFactory()
    made = {s: CampaignRecipientFactory(campaign=campaign, status=s) for s in ["pending", "sent", "failed"]}

    assert ids(api.get(url(campaign, f"?status={status}"))) == [made[status].pk]


@pytest.mark.parametrize(
    "flag,field",
    [
        ("has_opened", "opened_at"),
        ("has_clicked", "clicked_at"),
        ("has_replied", "replied_at"),
        ("has_bounced", "bounced_at"),
    ],
)
def test_boolean_event_filters(api, flag, field):
    campaign = CampaignFactory()
    yes = CampaignRecipientFactory(campaign=campaign, status="sent", **{field: timezone.now()})
    no = CampaignRecipientFactory(campaign=campaign, status="sent")

    assert ids(api.get(url(campaign, f"?{flag}=true"))) == [yes.pk]
    assert ids(api.get(url(campaign, f"?{flag}=false"))) == [no.pk]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("ada", ["ada"]),
        ("LOVELACE", ["ada"]),
        ("grace@navy", ["grace"]),
        ("ada lovelace", ["ada"]),
        ("ada hopper", []),
        ("example", ["ada", "grace"]),
    ],
)
def test_search_by_email_and_names(api, query, expected):
    campaign = CampaignFactory()
    made = {
        "ada": CampaignRecipientFactory(
            campaign=campaign, lead=LeadFactory(email="a@example.com", first_name="Ada", last_name="Lovelace")
        ),
        "grace": CampaignRecipientFactory(
            campaign=campaign, lead=LeadFactory(email="grace@navy.example.com", first_name="Grace", last_name="Hopper")
        ),
    }

    found = set(ids(api.get(url(campaign, f"?search={query}"))))

    assert found == {made[name].pk for name in expected}


@pytest.mark.parametrize(
    "query",
    [
        "?status=nope",
        "?has_opened=maybe",
        "?page=0",
        "?page=abc",
        "?page_size=0",
        "?page_size=201",
        "?page_size=-1",
        "?sort_by=token",
        "?sort_order=up",
        "?search=%00",
        "?search=" + "x" * 300,
        "?page=99999999999999999999",
    ],
)
def test_invalid_query_parameters_answer_400(api, query):
    campaign = CampaignFactory()

    assert api.get(url(campaign, query)).status_code == 400


def test_pagination_edges(api):
    campaign = CampaignFactory()
    made = CampaignRecipientFactory.create_batch(5, campaign=campaign)
    newest_first = [r.pk for r in sorted(made, key=lambda r: (r.created_at, r.pk), reverse=True)]

    first = api.get(url(campaign, "?page_size=2")).json()
    last = api.get(url(campaign, "?page_size=2&page=3")).json()
    past = api.get(url(campaign, "?page_size=2&page=4")).json()
    biggest = api.get(url(campaign, "?page_size=200"))

    assert ([r["id"] for r in first["recipients"]], first["has_more"], first["total"]) == (newest_first[:2], True, 5)
    assert ([r["id"] for r in last["recipients"]], last["has_more"]) == (newest_first[4:], False)
    assert (past["recipients"], past["has_more"], past["total"]) == ([], False, 5)
    assert biggest.status_code == 200


def test_sort_by_email_ascending(api):
    campaign = CampaignFactory()
    for email in ["c@example.com", "a@example.com", "b@example.com"]:
        CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(email=email))

    rows = api.get(url(campaign, "?sort_by=email_address&sort_order=asc")).json()["recipients"]

    assert [r["email_address"] for r in rows] == ["a@example.com", "b@example.com", "c@example.com"]


@pytest.mark.parametrize("count", [3, 60])
def test_list_queries_do_not_grow_with_rows(api, count, django_assert_max_num_queries):
    campaign = CampaignFactory()
    CampaignRecipient.objects.bulk_create(
        CampaignRecipient(campaign=campaign, email_address=f"r{i}@example.com") for i in range(count)
    )

    # token, the user's permissions, campaign, count, page
    with django_assert_max_num_queries(5):
        response = api.get(url(campaign, "?page_size=200&has_opened=false&search=example"))

    assert response.json()["total"] == count


def test_without_credentials_answers_401(anon_client):
    assert anon_client.get(url(CampaignFactory())).status_code == 401


def test_reading_needs_the_view_permissions(client_for, viewer):
    recipient = CampaignRecipientFactory()

    response = client_for(viewer).get(url(recipient.campaign))

    assert response.status_code == 403
    assert recipient.email_address.encode() not in response.content


@pytest.mark.parametrize("key", ["424242", "camp_ffffffffffff", "x", "-1"])
def test_unknown_campaign_answers_404(api, key):
    assert api.get(f"/api/v1/campaigns/{key}/recipients").status_code == 404


def test_deleted_campaign_answers_404(api):
    recipient = CampaignRecipientFactory(campaign=CampaignFactory(deleted_at=timezone.now()))

    assert api.get(url(recipient.campaign)).status_code == 404
