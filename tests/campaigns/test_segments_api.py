"""/api/v1/segments: CRUD, members, preview, validation, permissions; and `segment_id` in
POST /api/v1/campaigns/{id}/recipients."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign, CampaignRecipient, Segment
from tests.campaigns import segment_cases
from tests.factories import CampaignFactory, LeadFactory, UserFactory

pytestmark = pytest.mark.django_db

AUSTIN = {"match": "all", "conditions": [{"field": "city", "op": "eq", "value": "austin"}]}
VIP = {"match": "all", "conditions": [{"field": "tags", "op": "has_any", "value": ["vip"]}]}


def create(api, rules=AUSTIN, name="Austin"):
    return api.post("/api/v1/segments", {"name": name, "description": "in town", "rules": rules}, format="json")


# --- CRUD -------------------------------------------------------------------------------


def test_create_stores_the_rules_as_given_and_answers_the_member_count(api):
    segment_cases.build()

    response = create(api)

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "description", "rules", "lead_count", "created_at", "updated_at"}
    assert (body["name"], body["rules"], body["lead_count"]) == ("Austin", AUSTIN, 2)  # a, b (e suppressed)
    assert Segment.objects.get(pk=body["id"]).rules == AUSTIN


def test_list_has_the_contract_shape_and_counts_the_page_in_one_query(api):
    segment_cases.build()
    create(api, AUSTIN, "Austin")
    create(api, VIP, "VIP")

    with CaptureQueriesContext(connection) as queries:
        response = api.get("/api/v1/segments", {"sort_by": "name", "sort_order": "asc"})

    body = response.json()
    assert response.status_code == 200
    assert (body["total"], body["page"], body["page_size"], body["has_more"]) == (2, 1, 20, False)
    assert [(s["name"], s["lead_count"]) for s in body["segments"]] == [("Austin", 2), ("VIP", 2)]
    # token user, permissions (user and groups, one query: fliptech.authentication.load_permissions),
    # COUNT of segments, the page, ONE member count for the page
    assert len(queries) == 5, [q["sql"] for q in queries]


def test_update_and_delete(api):
    segment_cases.build()
    pk = create(api).json()["id"]

    patched = api.patch(f"/api/v1/segments/{pk}", {"rules": VIP}, format="json")
    deleted = api.delete(f"/api/v1/segments/{pk}")

    assert (patched.status_code, patched.json()["lead_count"], patched.json()["rules"]) == (200, 2, VIP)
    assert deleted.status_code == 204
    assert api.get(f"/api/v1/segments/{pk}").status_code == 404


@pytest.mark.parametrize("key", ["999999", "abc", "0", "-1", "1.5", "99999999999999999999999"])
def test_unknown_or_malformed_id_is_404(api, key):
    assert api.get(f"/api/v1/segments/{key}").status_code == 404
    assert api.get(f"/api/v1/segments/{key}/leads").status_code == 404


# --- members and preview ------------------------------------------------------------------


def test_members_are_paginated_like_leads(api):
    segment_cases.build()
    pk = create(api, VIP).json()["id"]

    first = api.get(f"/api/v1/segments/{pk}/leads", {"page_size": 1, "sort_by": "email", "sort_order": "asc"})
    second = api.get(
        f"/api/v1/segments/{pk}/leads", {"page_size": 1, "page": 2, "sort_by": "email", "sort_order": "asc"}
    )

    assert first.status_code == 200
    body = first.json()
    assert (body["total"], body["page_size"], body["has_more"]) == (2, 1, True)
    assert [lead["email"] for lead in body["leads"]] == ["a@x.com"]
    assert [lead["email"] for lead in second.json()["leads"]] == ["d@z.net"]  # e@x.com is suppressed
    assert second.json()["has_more"] is False


def test_members_bad_page_size_is_400(api):
    pk = create(api).json()["id"]
    assert api.get(f"/api/v1/segments/{pk}/leads", {"page_size": 201}).status_code == 400


def test_preview_counts_without_saving(api):
    segment_cases.build()

    response = api.post("/api/v1/segments/preview", {"rules": AUSTIN}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert (body["lead_count"], body["suppressed_count"]) == (2, 1)
    assert [lead["email"] for lead in body["sample"]] == ["a@x.com", "b@y.org"]
    assert set(body["sample"][0]) >= {"id", "email", "first_name", "tags", "attributes"}
    assert not Segment.objects.exists()


def test_preview_sample_holds_at_most_ten(api):
    LeadFactory.create_batch(12, city="Reno")
    rules = {"match": "all", "conditions": [{"field": "city", "op": "eq", "value": "reno"}]}

    body = api.post("/api/v1/segments/preview", {"rules": rules}, format="json").json()

    assert (body["lead_count"], len(body["sample"])) == (12, 10)


# --- validation: 400 naming the condition's index ------------------------------------------


@pytest.mark.parametrize(
    ("condition", "words"),
    [
        ({"field": "shoe_size", "op": "eq", "value": "9"}, "unknown field"),
        ({"field": "email", "op": "gt", "value": "a"}, "unknown op"),
        ({"field": "tags", "op": "has_any", "value": "vip"}, "list"),
        ({"field": "tags", "op": "has_any", "value": []}, "list"),
        ({"field": "tags", "op": "has_all", "value": ["vip", 3]}, "string"),
        ({"field": "city", "op": "eq", "value": 5}, "string"),
        ({"field": "city", "op": "in", "value": {"a": 1}}, "string"),
        ({"field": "attributes.score", "op": "gt", "value": True}, "boolean"),
        ({"field": "attributes.score", "op": "eq", "value": [1]}, "string"),
        ({"field": "attributes.", "op": "eq", "value": "x"}, "key"),
        ({"field": 'attributes.a"b', "op": "eq", "value": "x"}, "key"),
        ({"field": "created_at", "op": "before", "value": "yesterday"}, "iso 8601"),
        ({"field": "created_at", "op": "within_days", "value": -3}, "days"),
        ({"field": "created_at", "op": "within_days", "value": "7"}, "days"),
        ({"field": "engagement", "op": "opened", "value": {"campaign": 987654}}, "no campaign"),
        ({"field": "engagement", "op": "opened", "value": {"campaign": "camp_000000000000"}}, "no campaign"),
        ({"field": "engagement", "op": "opened", "value": {"within_days": 0}}, "days"),
        ({"field": "engagement", "op": "opened", "value": {"campagin": 1}}, "unknown key"),
        ({"field": "engagement", "op": "opened", "value": "C1"}, "object"),
        ("city = austin", "object"),
        ({"field": "city", "op": "eq", "value": "x", "extra": 1}, "unknown key"),
    ],
)
def test_a_bad_condition_is_400_naming_its_index(api, condition, words):
    rules = {"match": "all", "conditions": [{"field": "city", "op": "eq", "value": "austin"}, condition]}

    for response in (
        api.post("/api/v1/segments/preview", {"rules": rules}, format="json"),
        create(api, rules),
    ):
        assert response.status_code == 400
        messages = response.json()["rules"]["conditions"]
        assert list(messages) == ["1"]
        assert messages["1"][0].startswith("Condition 1: ")
        assert words in messages["1"][0].lower()
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    ("rules", "key"),
    [
        ({"match": "some", "conditions": []}, "match"),
        ({"match": "all", "conditions": "city"}, "conditions"),
        ({"match": "all", "conditions": [], "limit": 3}, "limit"),
        ([], "non_field_errors"),
    ],
)
def test_bad_rules_shape_is_400(api, rules, key):
    response = api.post("/api/v1/segments/preview", {"rules": rules}, format="json")
    assert response.status_code == 400
    assert key in response.json()["rules"]


def test_missing_name_is_400(api):
    response = api.post("/api/v1/segments", {"rules": AUSTIN}, format="json")
    assert (response.status_code, list(response.json())) == (400, ["name"])


# --- permissions ----------------------------------------------------------------------------


def with_perms(*codenames):
    user = UserFactory()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="campaigns", codename__in=codenames))
    return user


def test_reads_need_view_segment(client_for):
    client = client_for(with_perms("view_lead"))
    assert client.get("/api/v1/segments").status_code == 403
    assert client.post("/api/v1/segments/preview", {"rules": AUSTIN}, format="json").status_code == 403


def test_members_and_preview_also_need_view_lead(api, client_for):
    pk = create(api).json()["id"]
    client = client_for(with_perms("view_segment"))
    assert client.get(f"/api/v1/segments/{pk}").status_code == 200
    assert client.get(f"/api/v1/segments/{pk}/leads").status_code == 403
    assert client.post("/api/v1/segments/preview", {"rules": AUSTIN}, format="json").status_code == 403


def test_writes_need_their_permission(api, client_for):
    pk = create(api).json()["id"]
    client = client_for(with_perms("view_segment", "view_lead"))
    assert create(client).status_code == 403
    assert client.patch(f"/api/v1/segments/{pk}", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/v1/segments/{pk}").status_code == 403
    assert Segment.objects.get(pk=pk).name == "Austin"


def test_anonymous_is_401(anon_client):
    assert anon_client.get("/api/v1/segments").status_code == 401


# --- segment_id in POST /campaigns/{id}/recipients ----------------------------------------


def test_adding_a_segment_adds_every_member_and_reports_the_rest(api):
    data = segment_cases.build()
    campaign = CampaignFactory()
    CampaignRecipient.objects.create(campaign=campaign, lead=data["b"], email_address="b@y.org", token="pre-b")
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=1)
    LeadFactory(email="broken-address", city="Austin")  # matches, but no usable email
    pk = create(api).json()["id"]  # Austin: a, b (already), e (suppressed), broken

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/recipients", {"segment_id": pk}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in ("successful", "duplicates", "suppressed", "invalid", "total_processed")} == {
        "successful": 1,
        "duplicates": 1,
        "suppressed": 1,
        "invalid": 1,
        "total_processed": 4,
    }
    assert (body["total_recipients"], body["success"], body["failed"]) == (2, False, 3)
    assert {error["item"] for error in body["errors"]} == {"segment_id"}
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("email_address", flat=True)) == {
        "a@x.com",
        "b@y.org",
    }
    assert Campaign.objects.get(pk=campaign.pk).total_recipients == 2


def test_adding_a_segment_is_one_insert_select(api):
    segment_cases.build()
    campaign = CampaignFactory()
    pk = create(api, VIP).json()["id"]

    with CaptureQueriesContext(connection) as queries:
        response = api.post(f"/api/v1/campaigns/{campaign.pk}/recipients", {"segment_id": pk}, format="json")

    assert response.json()["successful"] == 2
    # One INSERT … SELECT (on PostgreSQL inside the one statement that also counts the matches).
    inserts = [q["sql"] for q in queries if "INSERT INTO" in q["sql"]]
    assert len(inserts) == 1 and "SELECT" in inserts[0]


@pytest.mark.parametrize("value", [999999, "abc", 0, True, 1.5, None])
def test_unknown_or_bad_segment_id_is_400(api, value):
    campaign = CampaignFactory()
    response = api.post(f"/api/v1/campaigns/{campaign.pk}/recipients", {"segment_id": value}, format="json")
    assert response.status_code == 400
    assert "segment_id" in response.json() or "non_field_errors" in response.json()
    assert not CampaignRecipient.objects.exists()


def test_adding_a_segment_needs_view_segment(api, client_for):
    segment_cases.build()
    campaign = CampaignFactory()
    pk = create(api).json()["id"]
    client = client_for(with_perms("change_campaign", "view_campaign"))

    response = client.post(f"/api/v1/campaigns/{campaign.pk}/recipients", {"segment_id": pk}, format="json")

    assert response.status_code == 403
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()


def test_adding_a_segment_to_a_running_campaign_is_409(api):
    segment_cases.build()
    campaign = CampaignFactory(status=Campaign.Status.RUNNING)
    pk = create(api).json()["id"]

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/recipients", {"segment_id": pk}, format="json")

    assert (response.status_code, response.json()["code"]) == (409, "invalid_state")
