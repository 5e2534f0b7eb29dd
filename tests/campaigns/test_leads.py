"""Leads CRUD under /api/v1/leads."""

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import CampaignRecipient, Lead
from tests.factories import CampaignRecipientFactory, LeadFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads"
FIELDS = {
    "id",
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "city",
    "source",
    "timezone",  # the sending windows' (contract: Follow-ups, replies, resend)
    "status",
    "tags",
    "attributes",
    "engagement_score",
    "email_status",  # Deliverability: valid / risky / invalid / unknown
    "created_at",
    "updated_at",
}


def ids(response):
    return [row["id"] for row in response.json()["leads"]]


# --- create -------------------------------------------------------------------------------------


def test_create_a_lead_stores_the_email_lower_case(api):
    response = api.post(
        URL,
        {
            "email": " Ada@Example.COM ",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "company": "Engines",
            "phone": "+44 20 0000",
            "city": "London",
            "source": "linkedin",
            "status": "qualified",
            "tags": ["math", "vip"],
            "attributes": {"listing": "loft", "rooms": 3},
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == FIELDS
    assert body["email"] == "ada@example.com"
    assert (body["tags"], body["attributes"], body["status"]) == (
        ["math", "vip"],
        {"listing": "loft", "rooms": 3},
        "qualified",
    )
    assert Lead.objects.get().email == "ada@example.com"


def test_defaults_for_a_lead_with_only_an_email(api):
    body = api.post(URL, {"email": "min@example.com"}, format="json").json()

    assert (body["status"], body["tags"], body["attributes"], body["first_name"]) == ("new", [], {}, "")


def test_an_email_taken_in_another_case_answers_400(api):
    LeadFactory(email="taken@example.com")

    response = api.post(URL, {"email": "TAKEN@Example.com"}, format="json")

    assert response.status_code == 400
    assert "email" in response.json()
    assert Lead.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com\x00"}, "email"),
        ({"email": "a@example.com", "first_name": "x" * 101}, "first_name"),
        ({"email": "a@example.com", "first_name": "nul\x00byte"}, "first_name"),
        ({"email": "a@example.com", "last_name": "two\nlines"}, "last_name"),
        ({"email": "a@example.com", "company": "c" * 100_000}, "company"),
        ({"email": "a@example.com", "status": "hot"}, "status"),
        ({"email": "a@example.com", "tags": "vip"}, "tags"),
        ({"email": "a@example.com", "tags": [{"a": 1}]}, "tags"),
        ({"email": "a@example.com", "tags": ["x" * 101]}, "tags"),
        ({"email": "a@example.com", "attributes": [1, 2]}, "attributes"),
        ({"email": "a@example.com", "attributes": {"k": "a\x00b"}}, "attributes"),
        ({"email": ["a@example.com"]}, "email"),
        ({"email": 12}, "email"),
    ],
)
def test_invalid_lead_answers_400_with_the_field(api, body, field):
    response = api.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Lead.objects.exists()


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"email": "a@example.com", "attributes": {"k": "\\ud800"}}', "attributes"),
        ('{"email": "a@example.com", "tags": ["\\udfff"]}', "tags"),
        ('{"email": "a@example.com", "first_name": "\\ud800"}', "first_name"),
    ],
)
def test_lone_surrogates_answer_400(api, raw, field):
    response = api.post(URL, raw, content_type="application/json")

    assert response.status_code == 400
    assert field in response.json()


@pytest.mark.parametrize(
    "raw", ["{oops", "[]", "null", '"x"', '{"email": "a@example.com", "attributes": {"n": 1e9999}}']
)
def test_garbage_json_answers_400(api, raw):
    assert api.post(URL, raw, content_type="application/json").status_code == 400
    assert not Lead.objects.exists()


# --- read, update, delete ------------------------------------------------------------------------


def test_retrieve_a_lead_with_and_without_trailing_slash(api):
    lead = LeadFactory()

    first, second = api.get(f"{URL}/{lead.pk}"), api.get(f"{URL}/{lead.pk}/")

    assert first.status_code == second.status_code == 200
    assert first.json()["email"] == lead.email


def test_patch_changes_only_the_given_fields(api):
    lead = LeadFactory(first_name="Old", city="Austin")

    response = api.patch(f"{URL}/{lead.pk}", {"first_name": "New"}, format="json")

    assert response.status_code == 200
    lead.refresh_from_db()
    assert (lead.first_name, lead.city) == ("New", "Austin")


def test_changing_the_case_of_ones_own_email_is_allowed(api):
    lead = LeadFactory(email="me@example.com")

    response = api.patch(f"{URL}/{lead.pk}", {"email": "ME@example.com"}, format="json")

    assert response.status_code == 200
    assert response.json()["email"] == "me@example.com"


def test_taking_another_leads_email_answers_400(api):
    LeadFactory(email="first@example.com")
    second = LeadFactory(email="second@example.com")

    response = api.put(f"{URL}/{second.pk}", {"email": "First@example.com"}, format="json")

    assert response.status_code == 400
    second.refresh_from_db()
    assert second.email == "second@example.com"


def test_delete_keeps_the_campaign_recipient_as_history(api):
    recipient = CampaignRecipientFactory()
    lead = recipient.lead

    response = api.delete(f"{URL}/{lead.pk}")

    assert response.status_code == 204
    assert not Lead.objects.filter(pk=lead.pk).exists()
    recipient = CampaignRecipient.objects.get(pk=recipient.pk)
    assert (recipient.lead_id, recipient.email_address) == (None, lead.email)


@pytest.mark.parametrize("pk", ["999999", "abc", "99999999999999999999999", "1.5", "%00"])
def test_unknown_lead_answers_404(api, pk):
    assert api.get(f"{URL}/{pk}").status_code == 404
    assert api.patch(f"{URL}/{pk}", {"first_name": "x"}, format="json").status_code == 404
    assert api.delete(f"{URL}/{pk}").status_code == 404


# --- auth ------------------------------------------------------------------------------------------


def test_without_credentials_answers_401(anon_client):
    response = anon_client.get(URL)

    assert response.status_code == 401
    assert "WWW-Authenticate" in response


def test_without_permission_writes_and_reads_answer_403(client_for, viewer):
    lead = LeadFactory()
    client = client_for(viewer)

    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}/{lead.pk}").status_code == 403
    assert client.post(URL, {"email": "x@example.com"}, format="json").status_code == 403
    assert client.patch(f"{URL}/{lead.pk}", {"first_name": "x"}, format="json").status_code == 403
    assert client.delete(f"{URL}/{lead.pk}").status_code == 403
    assert Lead.objects.count() == 1


# --- list ----------------------------------------------------------------------------------------


def test_list_shape(api):
    LeadFactory.create_batch(3)

    body = api.get(URL).json()

    assert set(body) == {"leads", "total", "page", "page_size", "has_more"}
    assert (body["total"], body["page"], body["page_size"], body["has_more"]) == (3, 1, 50, False)
    assert set(body["leads"][0]) == FIELDS


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("source=linkedin", {"b"}),
        ("status=contacted", {"c"}),
        ("city=austin", {"a", "b"}),
        ("tag=vip", {"a", "c"}),
        ("tag=nothing", set()),
        ("search=hopper", {"c"}),
        ("search=ACME", {"a"}),
        ("search=b@example", {"b"}),
        ("search=grace hopper", {"c"}),
        ("source=craigslist&city=Austin", {"a"}),
    ],
)
def test_list_filters(api, query, expected):
    made = {
        "a": LeadFactory(email="a@example.com", city="Austin", source="craigslist", tags=["vip"], company="Acme"),
        "b": LeadFactory(email="b@example.com", city="AUSTIN", source="linkedin", tags=[], company="Other"),
        "c": LeadFactory(
            email="c@example.com",
            city="Dallas",
            source="craigslist",
            tags=["x", "vip"],
            status="contacted",
            first_name="Grace",
            last_name="Hopper",
            company="Navy",
        ),
    }

    assert set(ids(api.get(f"{URL}?{query}"))) == {made[k].pk for k in expected}


def test_created_after_filter(api):
    old, new = LeadFactory(), LeadFactory()
    Lead.objects.filter(pk=old.pk).update(created_at=timezone.now() - dt.timedelta(days=10))
    since = (timezone.now() - dt.timedelta(days=1)).date().isoformat()

    assert ids(api.get(f"{URL}?created_after={since}")) == [new.pk]


@pytest.mark.parametrize(
    "query",
    [
        "status=hot",
        "created_after=yesterday",
        "created_after=2025-02-30",
        "page=0",
        "page_size=0",
        "page_size=201",
        "sort_by=attributes",
        "sort_order=random",
        "search=%00",
        "tag=%00",
        "city=" + "x" * 101,
    ],
)
def test_invalid_list_parameters_answer_400(api, query):
    assert api.get(f"{URL}?{query}").status_code == 400


def test_pagination_and_sort(api):
    for email in ["c@example.com", "a@example.com", "b@example.com"]:
        LeadFactory(email=email)

    first = api.get(f"{URL}?sort_by=email&sort_order=asc&page_size=2").json()
    second = api.get(f"{URL}?sort_by=email&sort_order=asc&page_size=2&page=2").json()
    past = api.get(f"{URL}?page=5").json()

    assert [row["email"] for row in first["leads"]] == ["a@example.com", "b@example.com"]
    assert first["has_more"] is True
    assert ([row["email"] for row in second["leads"]], second["has_more"]) == (["c@example.com"], False)
    assert (past["leads"], past["total"]) == ([], 3)


@pytest.mark.parametrize("count", [2, 40])
def test_list_queries_do_not_grow_with_rows(api, count, django_assert_max_num_queries):
    Lead.objects.bulk_create(Lead(email=f"l{i}@example.com", tags=["t"]) for i in range(count))

    # token, the user's permissions, count, page
    with django_assert_max_num_queries(4):
        response = api.get(f"{URL}?tag=t&page_size=200")

    assert response.json()["total"] == count


@pytest.mark.parametrize("tag", ["a,b", "{x}", 'say "hi"', "o'neil", "NULL", "ünï", "%", "\\"])
def test_tag_filter_matches_odd_tags_exactly(api, tag):
    lead = LeadFactory(tags=[tag, "other"])
    LeadFactory(tags=["a", "b", "x"])

    response = api.get(URL, {"tag": tag})

    assert ids(response) == [lead.pk]


def test_invalid_choice_quoting_a_lone_surrogate_is_a_readable_400(api):
    response = api.post(URL, rb'{"email": "s@example.com", "status": "x\udfff"}', content_type="application/json")
    assert response.status_code == 400
    assert "\\udfff" in response.json()["status"][0]
    assert not Lead.objects.exists()
