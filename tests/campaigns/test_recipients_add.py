"""POST /api/v1/campaigns/{id}/recipients — endpoint 7, a set operation."""

import datetime as dt
import threading

import pytest
from django.db import connection
from django.utils import timezone

from campaigns import audience
from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory, SuppressionFactory

pytestmark = pytest.mark.django_db

Status = Campaign.Status


def url(campaign, key=None):
    return f"/api/v1/campaigns/{key or campaign.pk}/recipients"


def add(api, campaign, **body):
    return api.post(url(campaign), body, format="json")


def items(answer):
    return {error["item"]: error["message"] for error in answer["errors"]}


# --- by lead ids ----------------------------------------------------------------------------


def test_add_by_ids_creates_pending_recipients_with_the_lead_snapshot(api):
    campaign = CampaignFactory()
    leads = LeadFactory.create_batch(3)

    response = add(api, campaign, lead_ids=[lead.pk for lead in leads])

    assert response.status_code == 200
    body = response.json()
    assert body == {
        "success": True,
        "total_processed": 3,
        "successful": 3,
        "failed": 0,
        "errors": [],
        "message": "Added 3 of 3 recipient(s).",
        "duplicates": 0,
        "suppressed": 0,
        "invalid": 0,
        "risky": 0,
        "total_recipients": 3,
    }
    recipients = {r.lead_id: r for r in CampaignRecipient.objects.filter(campaign=campaign)}
    assert set(recipients) == {lead.pk for lead in leads}
    for lead in leads:
        recipient = recipients[lead.pk]
        assert (recipient.email_address, recipient.first_name, recipient.last_name) == (
            lead.email,
            lead.first_name,
            lead.last_name,
        )
        assert recipient.status == CampaignRecipient.Status.PENDING
    campaign.refresh_from_db()
    assert campaign.total_recipients == 3


def test_tokens_made_by_the_database_are_long_random_and_unique(api):
    campaign = CampaignFactory()
    leads = LeadFactory.create_batch(20)

    add(api, campaign, lead_ids=[lead.pk for lead in leads])

    tokens = list(CampaignRecipient.objects.values_list("token", flat=True))
    assert len(set(tokens)) == 20
    # ≥ 128 random bits: 48 hex characters (SQLite) or 64 (PostgreSQL).
    assert all(len(token) >= 48 and int(token, 16) >= 0 for token in tokens)


def test_every_id_is_accounted_for(api):
    campaign = CampaignFactory()
    new, already, suppressed, no_email = LeadFactory.create_batch(4)
    CampaignRecipientFactory(campaign=campaign, lead=already)
    SuppressionFactory(email=suppressed.email, reason="hard_bounce")
    Lead.objects.filter(pk=no_email.pk).update(email="not-an-address")
    campaign.total_recipients = 1
    campaign.save()

    response = add(api, campaign, lead_ids=[new.pk, new.pk, already.pk, suppressed.pk, no_email.pk, 987654321])

    body = response.json()
    assert response.status_code == 200
    assert (body["total_processed"], body["successful"], body["failed"]) == (6, 1, 5)
    assert (body["duplicates"], body["suppressed"], body["invalid"]) == (2, 1, 2)
    assert body["success"] is False
    assert body["total_recipients"] == 2
    assert items(body) == {
        new.pk: "Duplicate in this request.",
        already.pk: "Already a recipient of this campaign.",
        suppressed.pk: "The address is suppressed (hard_bounce).",
        no_email.pk: "The lead has no valid email address (or its domain takes no mail).",
        987654321: "No lead with this id.",
    }
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("lead_id", flat=True)) == {
        already.pk,
        new.pk,
    }


def test_suppression_matches_whatever_the_case_of_the_stored_address(api):
    campaign = CampaignFactory()
    lead = LeadFactory(email="mixed@example.com")
    Lead.objects.filter(pk=lead.pk).update(email="Mixed@Example.COM")  # e.g. imported by SQL
    SuppressionFactory(email="mixed@example.com")

    body = add(api, campaign, lead_ids=[lead.pk]).json()

    assert (body["successful"], body["suppressed"]) == (0, 1)
    assert not CampaignRecipient.objects.exists()


def test_ids_that_cannot_be_keys_are_reported_unknown(api):
    campaign = CampaignFactory()

    body = add(api, campaign, lead_ids=[0, -5, 2**63, 10**30]).json()

    assert (body["invalid"], body["successful"]) == (4, 0)
    assert set(items(body)) == {0, -5, 2**63, 10**30}


def test_numeric_strings_are_accepted_as_ids(api):
    campaign = CampaignFactory()
    lead = LeadFactory()

    body = add(api, campaign, lead_ids=[str(lead.pk)]).json()

    assert body["successful"] == 1


@pytest.mark.parametrize(
    "lead_ids",
    [["a"], [{"id": 1}], [1.5], [True], [[1]], [None], "1,2", {"1": 2}, 7, ["１"]],
    ids=["letters", "dict", "float", "bool", "nested", "null", "string", "object", "int", "fullwidth"],
)
def test_ids_of_the_wrong_type_answer_400_and_change_nothing(api, lead_ids):
    campaign = CampaignFactory()
    lead = LeadFactory()

    response = add(api, campaign, lead_ids=[lead.pk, lead_ids] if isinstance(lead_ids, list) else lead_ids)

    assert response.status_code == 400
    assert "lead_ids" in response.json()
    assert not CampaignRecipient.objects.exists()


def test_the_campaign_may_be_named_by_its_public_id(api):
    campaign = CampaignFactory()
    lead = LeadFactory()

    response = api.post(url(campaign, campaign.campaign_id), {"lead_ids": [lead.pk]}, format="json")

    assert response.status_code == 200
    assert response.json()["total_recipients"] == 1


def test_path_answers_without_and_with_trailing_slash(api):
    campaign = CampaignFactory()
    leads = LeadFactory.create_batch(2)

    first = api.post(url(campaign), {"lead_ids": [leads[0].pk]}, format="json")
    second = api.post(url(campaign) + "/", {"lead_ids": [leads[1].pk]}, format="json")

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json()["total_recipients"] == 2


# --- limits and malformed bodies ----------------------------------------------------------------


def test_more_than_10000_ids_answer_413(api):
    campaign = CampaignFactory()

    response = add(api, campaign, lead_ids=list(range(1, 10_002)))

    assert response.status_code == 413
    assert response.json()["code"] == "too_many_items"
    assert "detail" in response.json()


def test_more_than_10000_ids_and_leads_together_answer_413(api):
    campaign = CampaignFactory()

    response = add(
        api, campaign, lead_ids=list(range(1, 6_001)), leads=[{"email": f"x{i}@example.com"} for i in range(4_001)]
    )

    assert response.status_code == 413
    assert not Lead.objects.exists()


def test_more_than_10000_lead_objects_answer_413(api):
    campaign = CampaignFactory()

    response = add(api, campaign, leads=[{"email": f"x{i}@example.com"} for i in range(10_001)])

    assert response.status_code == 413
    assert response.json()["code"] == "too_many_items"


@pytest.mark.parametrize("body", [{}, {"lead_ids": []}, {"leads": []}, {"lead_ids": None, "lead_filters": None}])
def test_a_body_without_anything_to_add_answers_400(api, body):
    campaign = CampaignFactory()

    response = api.post(url(campaign), body, format="json")

    assert response.status_code == 400


@pytest.mark.parametrize(
    "raw",
    ["{not json", "[1, 2]", '"lead_ids"', "null", '{"lead_ids": [1e999999]}', '{"lead_ids": [' + "9" * 5000 + "]}"],
)
def test_garbage_bodies_answer_400(api, raw):
    campaign = CampaignFactory()

    response = api.post(url(campaign), raw, content_type="application/json")

    assert response.status_code == 400


def test_a_10000_id_request_is_accepted(api):
    campaign = CampaignFactory()
    lead = LeadFactory()

    body = add(api, campaign, lead_ids=[lead.pk, *range(10**12, 10**12 + 9_999)]).json()

    assert (body["total_processed"], body["successful"], body["invalid"]) == (10_000, 1, 9_999)


# --- statuses, auth, not found ------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.DRAFT, Status.SCHEDULED, Status.PAUSED])
def test_recipients_can_be_added_in_draft_scheduled_and_paused(api, status):
    campaign = CampaignFactory(status=status)
    lead = LeadFactory()

    assert add(api, campaign, lead_ids=[lead.pk]).status_code == 200


@pytest.mark.parametrize("status", [Status.RUNNING, Status.COMPLETED, Status.FAILED])
def test_adding_to_a_running_or_finished_campaign_answers_409_and_changes_nothing(api, status):
    campaign = CampaignFactory(status=status)
    lead = LeadFactory()

    response = add(api, campaign, lead_ids=[lead.pk], leads=[{"email": "fresh@example.com"}])

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert not CampaignRecipient.objects.exists()
    assert not Lead.objects.filter(email="fresh@example.com").exists()


def test_without_credentials_answers_401(anon_client):
    campaign = CampaignFactory()

    response = anon_client.post(url(campaign), {"lead_ids": [1]}, format="json")

    assert response.status_code == 401
    assert "WWW-Authenticate" in response


def test_without_permission_answers_403(client_for, viewer):
    campaign = CampaignFactory()
    lead = LeadFactory()

    response = client_for(viewer).post(url(campaign), {"lead_ids": [lead.pk]}, format="json")

    assert response.status_code == 403
    assert not CampaignRecipient.objects.exists()


@pytest.mark.parametrize("key", ["999999", "camp_000000000000", "nope", "1.5", "%00"])
def test_unknown_campaign_answers_404(api, key):
    assert api.post(f"/api/v1/campaigns/{key}/recipients", {"lead_ids": [1]}, format="json").status_code == 404


def test_deleted_campaign_answers_404(api):
    campaign = CampaignFactory(deleted_at=timezone.now())
    lead = LeadFactory()

    assert add(api, campaign, lead_ids=[lead.pk]).status_code == 404


# --- lead objects ------------------------------------------------------------------------------


def test_lead_objects_are_created_lower_cased_and_added(api):
    campaign = CampaignFactory()

    body = add(
        api,
        campaign,
        leads=[
            {
                "email": " New.Person@Example.COM ",
                "first_name": "Ada",
                "city": "Austin",
                "tags": ["vip"],
                "attributes": {"listing": "loft"},
                "status": "qualified",
            },
        ],
    ).json()

    assert body["successful"] == 1
    lead = Lead.objects.get()
    assert (lead.email, lead.first_name, lead.city, lead.tags, lead.attributes, lead.status) == (
        "new.person@example.com",
        "Ada",
        "Austin",
        ["vip"],
        {"listing": "loft"},
        "qualified",
    )
    recipient = CampaignRecipient.objects.get()
    assert (recipient.lead_id, recipient.email_address, recipient.first_name) == (lead.pk, lead.email, "Ada")


def test_an_existing_lead_is_updated_by_email_whatever_its_case_keeping_fields_not_given(api):
    campaign = CampaignFactory()
    lead = LeadFactory(email="known@example.com", first_name="Old", last_name="Name", company="Acme")

    body = add(api, campaign, leads=[{"email": "KNOWN@example.com", "first_name": "New"}]).json()

    assert body["successful"] == 1
    assert Lead.objects.count() == 1
    lead.refresh_from_db()
    assert (lead.first_name, lead.last_name, lead.company) == ("New", "Name", "Acme")
    assert CampaignRecipient.objects.get().first_name == "New"


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ({"email": "nope"}, "email"),
        ({"first_name": "No email"}, "email"),
        ({"email": "a@example.com", "first_name": "x" * 101}, "first_name"),
        ({"email": "a@example.com", "first_name": "nul\x00"}, "first_name"),
        ({"email": "a@example.com", "last_name": "two\r\nlines"}, "last_name"),
        ({"email": "a@example.com", "status": "vip"}, "status"),
        ({"email": "a@example.com", "tags": "vip"}, "tags"),
        ({"email": "a@example.com", "tags": [1]}, "tags"),
        ({"email": "a@example.com", "attributes": ["x"]}, "attributes"),
        ({"email": "a@example.com", "attributes": {"k": "nul\x00"}}, "attributes"),
        ({"email": "a@example.com", "first_name": 5}, "first_name"),
        ({"email": "a@example.com", "shoe_size": 44}, "Unknown field"),
        ("a@example.com", "object"),
        ([{"email": "a@example.com"}], "object"),
    ],
)
def test_an_invalid_lead_object_is_reported_and_the_others_are_added(api, obj, reason):
    campaign = CampaignFactory()

    response = add(api, campaign, leads=[obj, {"email": "good@example.com"}])

    body = response.json()
    assert response.status_code == 200
    assert (body["successful"], body["invalid"], body["total_processed"]) == (1, 1, 2)
    assert reason in body["errors"][0]["message"]
    assert list(Lead.objects.values_list("email", flat=True)) == ["good@example.com"]


def test_a_lead_object_given_twice_or_also_by_id_is_a_duplicate(api):
    campaign = CampaignFactory()
    lead = LeadFactory(email="known@example.com")

    body = add(
        api,
        campaign,
        lead_ids=[lead.pk],
        leads=[
            {"email": "known@example.com"},
            {"email": "twice@example.com"},
            {"email": "TWICE@example.com"},
        ],
    ).json()

    assert (body["successful"], body["duplicates"], body["total_processed"]) == (2, 2, 4)
    assert set(items(body)) == {"known@example.com", "twice@example.com"}


def test_a_suppressed_lead_object_is_upserted_but_not_added(api):
    campaign = CampaignFactory()
    SuppressionFactory(email="gone@example.com")

    body = add(api, campaign, leads=[{"email": "Gone@example.com"}]).json()

    assert (body["successful"], body["suppressed"]) == (0, 1)
    assert Lead.objects.filter(email="gone@example.com").exists()
    assert not CampaignRecipient.objects.exists()


# --- lead filters --------------------------------------------------------------------------------


def lead_ids_added(campaign):
    return set(CampaignRecipient.objects.filter(campaign=campaign).values_list("lead_id", flat=True))


@pytest.fixture
def population(db):
    old = timezone.now() - dt.timedelta(days=30)
    leads = {
        "austin_plumber": LeadFactory(city="Austin", source="craigslist", tags=["plumbing", "vip"]),
        "austin_linkedin": LeadFactory(city="austin", source="linkedin", tags=["roofing"], status="contacted"),
        "dallas_plumber": LeadFactory(city="Dallas", source="craigslist", tags=["plumbing"]),
        "untagged": LeadFactory(city="Dallas", source="google_maps", tags=[]),
    }
    Lead.objects.filter(pk=leads["dallas_plumber"].pk).update(created_at=old)
    return leads


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"sources": ["craigslist"]}, {"austin_plumber", "dallas_plumber"}),
        ({"sources": ["linkedin", "google_maps"]}, {"austin_linkedin", "untagged"}),
        ({"statuses": ["contacted"]}, {"austin_linkedin"}),
        ({"tags": ["plumbing"]}, {"austin_plumber", "dallas_plumber"}),
        ({"tags": ["vip", "roofing"]}, {"austin_plumber", "austin_linkedin"}),
        ({"tags": ["nobody"]}, set()),
        ({"cities": ["AUSTIN"]}, {"austin_plumber", "austin_linkedin"}),
        ({"created_after": "2000-01-01T00:00:00"}, {"austin_plumber", "austin_linkedin", "dallas_plumber", "untagged"}),
        ({"sources": ["craigslist"], "cities": ["austin"]}, {"austin_plumber"}),
        ({}, {"austin_plumber", "austin_linkedin", "dallas_plumber", "untagged"}),
    ],
    ids=[
        "source",
        "sources",
        "status",
        "tag",
        "tags-any",
        "tag-none",
        "city-any-case",
        "created-after-all",
        "and-across-keys",
        "empty-matches-all",
    ],
)
def test_lead_filters_add_every_matching_lead(api, population, filters, expected):
    campaign = CampaignFactory()

    body = add(api, campaign, lead_filters=filters).json()

    assert lead_ids_added(campaign) == {population[name].pk for name in expected}
    assert body["successful"] == len(expected)
    assert body["total_recipients"] == len(expected)


def test_lead_filters_created_after_excludes_older_leads(api, population):
    campaign = CampaignFactory()

    add(api, campaign, lead_filters={"created_after": (timezone.now() - dt.timedelta(days=1)).isoformat()})

    assert population["dallas_plumber"].pk not in lead_ids_added(campaign)
    assert len(lead_ids_added(campaign)) == 3


def test_lead_filters_report_already_added_suppressed_and_invalid_leads(api, population):
    campaign = CampaignFactory()
    CampaignRecipientFactory(campaign=campaign, lead=population["austin_plumber"])
    SuppressionFactory(email=population["austin_linkedin"].email)
    Lead.objects.filter(pk=population["untagged"].pk).update(email="broken")
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=1)

    body = add(api, campaign, lead_filters={}).json()

    assert (body["total_processed"], body["successful"]) == (4, 1)
    assert (body["duplicates"], body["suppressed"], body["invalid"]) == (1, 1, 1)
    assert body["total_recipients"] == 2
    assert {e["item"] for e in body["errors"]} == {"lead_filters"}
    assert lead_ids_added(campaign) == {population["austin_plumber"].pk, population["dallas_plumber"].pk}


@pytest.mark.parametrize(
    "filters",
    [
        {"source": ["craigslist"]},
        {"statuses": ["vip"]},
        {"created_after": "yesterday"},
        {"tags": "plumbing"},
        {"cities": [None]},
        {"sources": ["x\x00"]},
        ["craigslist"],
        "all",
    ],
    ids=["misspelt-key", "bad-status", "bad-date", "not-a-list", "null-city", "nul", "list", "string"],
)
def test_invalid_lead_filters_answer_400_and_add_nobody(api, population, filters):
    campaign = CampaignFactory()

    response = add(api, campaign, lead_filters=filters)

    assert response.status_code == 400
    assert not CampaignRecipient.objects.exists()


def test_ids_objects_and_filters_in_one_request(api, population):
    campaign = CampaignFactory()

    body = add(
        api,
        campaign,
        lead_ids=[population["untagged"].pk],
        leads=[{"email": "fresh@example.com"}],
        lead_filters={"tags": ["plumbing"]},
    ).json()

    assert (body["successful"], body["failed"]) == (4, 0)
    assert body["total_recipients"] == 4


# --- constant number of queries -------------------------------------------------------------------


@pytest.mark.parametrize("size", [10, 2_000])
def test_adding_ids_costs_the_same_queries_for_10_and_2000_leads(api, size, django_assert_max_num_queries):
    campaign = CampaignFactory()
    leads = Lead.objects.bulk_create(Lead(email=f"bulk{i}@example.com") for i in range(size))
    SuppressionFactory(email="bulk1@example.com")
    ids = [lead.pk for lead in Lead.objects.filter(email__startswith="bulk")]
    assert len(ids) == len(leads)

    # token, user and group permissions, campaign, savepoint, lock, savepoint, insert, release,
    # explain the id not added, total, release
    with django_assert_max_num_queries(12):
        body = add(api, campaign, lead_ids=ids).json()

    assert body["successful"] == size - 1


@pytest.mark.parametrize("size", [10, 1_000])
def test_adding_lead_objects_costs_the_same_queries_for_10_and_1000(api, size, django_assert_max_num_queries):
    campaign = CampaignFactory()
    LeadFactory(email="obj1@example.com")

    # as above, plus the upsert's INSERT and UPDATE
    with django_assert_max_num_queries(14):
        body = add(
            api, campaign, leads=[{"email": f"obj{i}@example.com", "first_name": "N"} for i in range(size)]
        ).json()

    assert body["successful"] == size


@pytest.mark.parametrize("size", [10, 1_000])
def test_adding_by_filters_costs_the_same_queries_for_10_and_1000(api, size, django_assert_max_num_queries):
    campaign = CampaignFactory()
    Lead.objects.bulk_create(Lead(email=f"f{i}@example.com", source="craigslist", tags=["t"]) for i in range(size))

    # token, permissions (2), campaign, savepoint, lock, count by category, savepoint, INSERT … SELECT,
    # release, total, release
    with django_assert_max_num_queries(12):
        body = add(api, campaign, lead_filters={"sources": ["craigslist"], "tags": ["t"]}).json()

    assert body["successful"] == size


# --- concurrency ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_overlapping_adds_keep_total_recipients_exact(require_postgres):
    campaign = CampaignFactory()
    Lead.objects.bulk_create(Lead(email=f"c{i}@example.com") for i in range(600))
    ids = sorted(Lead.objects.values_list("pk", flat=True))
    halves = [ids[:400], ids[200:]]  # 200 leads in both
    barrier = threading.Barrier(2)
    answers, errors = [], []

    def worker(part):
        try:
            barrier.wait()
            answers.append(audience.recipients_add(campaign=campaign, lead_ids=part))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(part,)) for part in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    campaign.refresh_from_db()
    assert campaign.total_recipients == 600 == CampaignRecipient.objects.filter(campaign=campaign).count()
    assert sum(a["successful"] for a in answers) == 600
    assert sum(a["duplicates"] for a in answers) == 200


def test_10000_lead_objects_in_one_request_are_upserted_and_added(api):
    campaign = CampaignFactory()
    LeadFactory(email="obj5@example.com", first_name="Before")
    leads = [
        {"email": f"obj{i}@example.com", "first_name": f"N{i}", "tags": ["import"], "attributes": {"i": i}}
        for i in range(10_000)
    ]

    body = add(api, campaign, leads=leads).json()

    assert (body["successful"], body["failed"], body["total_recipients"]) == (10_000, 0, 10_000)
    assert Lead.objects.count() == 10_000
    assert Lead.objects.get(email="obj5@example.com").first_name == "N5"
    assert Lead.objects.get(email="obj9999@example.com").attributes == {"i": 9999}


@pytest.mark.parametrize(
    "body", [{"lead_ids": "1"}, {"lead_ids": ["1", "x"]}, {"lead_filters": "all"}, {"leads": "a@b.co"}]
)
def test_form_encoded_bodies_answer_415(api, body):
    campaign = CampaignFactory()
    LeadFactory()

    response = api.post(url(campaign), body)  # multipart, as a browser form would

    assert response.status_code == 415
    assert response.json()["code"] == "unsupported_media_type"
    assert not CampaignRecipient.objects.exists()


def test_a_conflicting_row_from_a_writer_without_the_lock_is_skipped_not_a_500(api, monkeypatch):
    # Simulate a recipient that appeared between the checks and the insert.
    monkeypatch.setattr(audience, "_addable", lambda leads, campaign: leads)
    campaign = CampaignFactory()
    existing, new = LeadFactory.create_batch(2)
    CampaignRecipientFactory(campaign=campaign, lead=existing)

    response = add(api, campaign, lead_ids=[existing.pk, new.pk])

    body = response.json()
    assert response.status_code == 200
    assert (body["successful"], body["duplicates"]) == (1, 1)
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_upserts_of_the_same_new_leads_into_two_campaigns_do_not_fail(require_postgres):
    campaigns = CampaignFactory.create_batch(2)
    objects = [{"email": f"Shared{i}@example.com", "first_name": f"S{i}"} for i in range(5000)]
    barrier = threading.Barrier(2)
    answers, errors = [], []

    def worker(campaign, objs):
        try:
            barrier.wait()
            answers.append(audience.recipients_add(campaign=campaign, leads=objs))
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(campaigns[0], objects)),
        threading.Thread(target=worker, args=(campaigns[1], list(reversed(objects)))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert Lead.objects.count() == 5000
    assert [a["successful"] for a in answers] == [5000, 5000]
    for campaign in campaigns:
        campaign.refresh_from_db()
        assert campaign.total_recipients == 5000


@pytest.mark.parametrize("raw", [b"[" * 5000 + b"]" * 5000, b'{"lead_ids": ' + b"[" * 5000 + b"]" * 5000 + b"}"])
def test_json_nested_too_deeply_is_400(api, raw):
    campaign = CampaignFactory()
    response = api.post(url(campaign), raw, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "parse_error"
    assert not campaign.recipients.exists()
