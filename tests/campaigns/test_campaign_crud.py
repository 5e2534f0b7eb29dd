"""Endpoints 1, 3, 4, 5: create, read, update, soft delete."""

import datetime as dt

import pytest
from django.utils import timezone

from campaigns.models import Campaign
from tests.factories import CampaignFactory, EmailTemplateFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns"


def detail(campaign):
    return f"{URL}/{campaign.pk}"


def future(**delta):
    return timezone.now() + dt.timedelta(**(delta or {"days": 1}))


# --- create ---------------------------------------------------------------------------


def test_create_answers_201_with_every_contract_field(api, user):
    template = EmailTemplateFactory()
    response = api.post(URL, {"name": "Spring offer", "template_id": template.pk}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {
        "id",
        "campaign_id",
        "name",
        "description",
        "template_id",
        "status",
        "subject",
        "from_email",
        "from_name",
        "reply_to",
        "send_rate_per_hour",
        "track_opens",
        "track_clicks",
        "scheduled_at",
        "started_at",
        "completed_at",
        "paused_at",
        "pause_reason",
        "auto_pause_min_sample",
        "auto_pause_bounce_rate",
        "auto_pause_complaint_rate",
        "failure_reason",
        "ab_test",
        "send_window",
        "timezone",
        "total_recipients",
        "metrics",
        "created_by",
        "created_at",
        "updated_at",
    }
    assert body["status"] == "draft"
    assert body["template_id"] == template.pk
    assert body["created_by"] == user.username
    assert body["campaign_id"].startswith("camp_") and len(body["campaign_id"]) == 17
    assert body["track_opens"] is True and body["track_clicks"] is True
    assert body["total_recipients"] == 0
    assert body["metrics"]["emails_sent"] == 0 and body["metrics"]["open_rate"] == 0
    campaign = Campaign.objects.get(pk=body["id"])
    assert campaign.created_by == user


def test_create_fills_sender_from_settings_when_left_empty(api, settings):
    settings.DEFAULT_FROM_EMAIL = "FlipTech Pro <offers@fliptech.example>"
    settings.DEFAULT_REPLY_TO = "sales@fliptech.example"
    body = api.post(URL, {"name": "Defaults"}, format="json").json()
    assert body["from_name"] == "FlipTech Pro"
    assert body["from_email"] == "offers@fliptech.example"
    assert body["reply_to"] == "sales@fliptech.example"


def test_create_keeps_given_sender_fields(api):
    body = api.post(
        URL,
        {
            "name": "Mine",
            "from_name": "Ann",
            "from_email": "ann@example.com",
            "reply_to": "r@example.com",
            "subject": "Hi",
            "description": "d",
            "send_rate_per_hour": 500,
            "track_clicks": False,
        },
        format="json",
    ).json()
    assert (body["from_name"], body["from_email"], body["reply_to"]) == ("Ann", "ann@example.com", "r@example.com")
    assert (body["subject"], body["send_rate_per_hour"], body["track_clicks"]) == ("Hi", 500, False)


def test_create_accepts_aware_scheduled_at_and_stores_utc(api):
    when = (timezone.now() + dt.timedelta(days=2)).astimezone(dt.timezone(dt.timedelta(hours=5)))
    response = api.post(URL, {"name": "Aware", "scheduled_at": when.isoformat()}, format="json")
    assert response.status_code == 201
    stored = Campaign.objects.get(pk=response.json()["id"]).scheduled_at
    assert stored == when
    assert response.json()["scheduled_at"].endswith("Z")


def test_create_takes_naive_scheduled_at_as_utc(api):
    naive = (timezone.now() + dt.timedelta(days=2)).replace(tzinfo=None, microsecond=0)
    response = api.post(URL, {"name": "Naive", "scheduled_at": naive.isoformat()}, format="json")
    assert response.status_code == 201
    stored = Campaign.objects.get(pk=response.json()["id"]).scheduled_at
    assert stored == naive.replace(tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "x" * 100_000}, "name"),
        ({"name": "bad\x00name"}, "name"),
        ({"name": ["a list"]}, "name"),
        ({"name": None}, "name"),
        ({"name": "ok", "subject": "Hello\r\nBcc: victim@example.com"}, "subject"),
        ({"name": "ok", "subject": "Hello\nthere"}, "subject"),
        ({"name": "ok", "from_name": "Ann\nBcc: x@example.com"}, "from_name"),
        ({"name": "ok", "reply_to": "a@example.com\r\nBcc: x@example.com"}, "reply_to"),
        ({"name": "ok", "from_email": "not-an-address"}, "from_email"),
        ({"name": "ok", "description": "nul\x00"}, "description"),
        ({"name": "ok", "template_id": 999999}, "template_id"),
        ({"name": "ok", "template_id": 99999999999999999999999}, "template_id"),
        ({"name": "ok", "template_id": "1" * 5000}, "template_id"),
        ({"name": "ok", "template_id": "abc"}, "template_id"),
        ({"name": "ok", "template_id": True}, "template_id"),
        ({"name": "ok", "scheduled_at": "2001-01-01T00:00:00Z"}, "scheduled_at"),
        ({"name": "ok", "scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"name": "ok", "scheduled_at": "2099-02-30T00:00:00"}, "scheduled_at"),
        ({"name": "ok", "send_rate_per_hour": 0}, "send_rate_per_hour"),
        ({"name": "ok", "send_rate_per_hour": 99999999999999999999}, "send_rate_per_hour"),
        ({"name": "ok", "track_opens": "maybe"}, "track_opens"),
    ],
)
def test_create_with_invalid_field_answers_400_and_creates_nothing(api, payload, field):
    response = api.post(URL, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not Campaign.all_objects.exists()


def test_create_with_lone_surrogate_escape_answers_400(api):
    # What a JSON client sends for an unpaired UTF-16 surrogate; PostgreSQL cannot store it.
    response = api.generic("POST", URL, b'{"name": "bad\\ud800name"}', content_type="application/json")
    assert response.status_code == 400
    assert "name" in response.json()
    assert not Campaign.all_objects.exists()


def test_create_with_past_scheduled_at_explains_why(api):
    response = api.post(URL, {"name": "x", "scheduled_at": "2001-01-01T00:00:00Z"}, format="json")
    assert response.json() == {"scheduled_at": ["Must be in the future."]}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"a string"', b"null"])
def test_create_with_malformed_body_answers_400(api, raw):
    response = api.generic("POST", URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert not Campaign.all_objects.exists()


def test_create_with_malformed_json_uses_detail_code_shape(api):
    response = api.generic("POST", URL, b"{not json", content_type="application/json")
    assert response.json()["code"] == "parse_error" and response.json()["detail"]


def test_create_ignores_status_in_the_body(api):
    response = api.post(URL, {"name": "x", "status": "running"}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "draft"


# --- retrieve -------------------------------------------------------------------------


def test_get_by_numeric_id_and_by_public_id(api):
    campaign = CampaignFactory()
    by_pk = api.get(f"{URL}/{campaign.pk}")
    by_public = api.get(f"{URL}/{campaign.campaign_id}/")
    assert by_pk.status_code == by_public.status_code == 200
    assert by_pk.json() == by_public.json()
    assert by_pk.json()["id"] == campaign.pk


def test_get_shows_metrics_from_recipients(api):
    from tests.factories import CampaignRecipientFactory

    campaign = CampaignFactory()
    now = timezone.now()
    CampaignRecipientFactory(campaign=campaign, status="sent", sent_at=now, opened_at=now)
    CampaignRecipientFactory(campaign=campaign, status="sent", sent_at=now)
    metrics = api.get(detail(campaign)).json()["metrics"]
    assert metrics["emails_sent"] == 2
    assert metrics["emails_opened"] == 1
    assert metrics["open_rate"] == 50.0


def test_created_by_is_null_once_the_creator_is_deleted(api):
    campaign = CampaignFactory()
    campaign.created_by.delete()
    assert api.get(detail(campaign)).json()["created_by"] is None


@pytest.mark.parametrize(
    "key",
    [
        "999999",
        "99999999999999999999999",
        "camp_000000000000",
        "camp_zzz",
        "%00",
        "camp_%00abcdefghij",
        "%C2%B2",
        "-1",
        "1.5",
        "health2",
        "%20",
        "camp_" + "0" * 200,
    ],
)
def test_get_unknown_or_malformed_id_answers_404(api, key):
    response = api.get(f"{URL}/{key}")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_detail_query_count_does_not_grow_with_recipients(api, django_assert_max_num_queries):
    from tests.factories import CampaignRecipientFactory

    campaign = CampaignFactory()
    CampaignRecipientFactory.create_batch(30, campaign=campaign)
    # token + user, the user's permissions, campaign (with created_by), metrics
    with django_assert_max_num_queries(4):
        assert api.get(detail(campaign)).status_code == 200


# --- update ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_draft_changes_only_given_fields(api, method):
    campaign = CampaignFactory(description="keep me")
    template = EmailTemplateFactory()
    response = getattr(api, method)(
        detail(campaign), {"name": "Renamed", "template_id": template.pk, "subject": "New"}, format="json"
    )
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert (campaign.name, campaign.template_id, campaign.subject) == ("Renamed", template.pk, "New")
    assert campaign.description == "keep me"
    assert response.json()["name"] == "Renamed"


def test_update_can_clear_template_and_schedule_of_a_draft(api):
    campaign = CampaignFactory(scheduled_at=future())
    response = api.patch(detail(campaign), {"template_id": None, "scheduled_at": None}, format="json")
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.template_id is None and campaign.scheduled_at is None


def test_update_scheduled_campaign_can_move_its_time(api):
    campaign = CampaignFactory(status="scheduled", scheduled_at=future(days=1))
    new = future(days=3)
    response = api.patch(detail(campaign), {"scheduled_at": new.isoformat()}, format="json")
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.scheduled_at == new


def test_update_scheduled_campaign_cannot_clear_its_time(api):
    when = future()
    campaign = CampaignFactory(status="scheduled", scheduled_at=when)
    response = api.patch(detail(campaign), {"scheduled_at": None}, format="json")
    assert response.status_code == 400
    assert "scheduled_at" in response.json()
    campaign.refresh_from_db()
    assert campaign.scheduled_at == when


def test_update_paused_campaign_name_and_rate_are_allowed(api):
    campaign = CampaignFactory(status="paused")
    response = api.patch(detail(campaign), {"name": "Still paused", "send_rate_per_hour": 100}, format="json")
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert (campaign.name, campaign.send_rate_per_hour, campaign.status) == ("Still paused", 100, "paused")


@pytest.mark.parametrize(
    "field, value",
    [
        ("subject", "New subject"),
        ("from_name", "X"),
        ("from_email", "x@example.com"),
        ("reply_to", "r@example.com"),
        ("track_opens", False),
        ("track_clicks", False),
    ],
)
def test_update_content_of_paused_campaign_answers_409_and_changes_nothing(api, field, value):
    campaign = CampaignFactory(status="paused", name="Orig")
    before = Campaign.objects.filter(pk=campaign.pk).values().get()
    response = api.patch(detail(campaign), {field: value, "name": "Changed"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state" and response.json()["detail"]
    assert Campaign.objects.filter(pk=campaign.pk).values().get() == before


def test_update_template_of_paused_campaign_answers_409(api):
    campaign = CampaignFactory(status="paused")
    response = api.patch(detail(campaign), {"template_id": EmailTemplateFactory().pk}, format="json")
    assert response.status_code == 409


def test_update_status_field_is_refused(api):
    campaign = CampaignFactory()
    response = api.patch(detail(campaign), {"status": "running"}, format="json")
    assert response.status_code == 400
    assert "status" in response.json()
    campaign.refresh_from_db()
    assert campaign.status == "draft"


def test_update_sending_back_the_same_status_is_accepted(api):
    campaign = CampaignFactory()
    body = api.get(detail(campaign)).json()
    body["name"] = "Round trip"
    response = api.put(detail(campaign), body, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Round trip"


@pytest.mark.parametrize(
    "payload",
    [
        {"name": ""},
        {"name": None},
        {"name": "x" * 256},
        {"subject": "a\r\nb"},
        {"from_name": "a\nb"},
        {"scheduled_at": "2001-01-01T00:00:00Z"},
        {"template_id": 424242},
        {"description": "\x00"},
    ],
)
def test_update_with_invalid_value_answers_400_and_changes_nothing(api, payload):
    campaign = CampaignFactory(name="Orig")
    before = Campaign.objects.filter(pk=campaign.pk).values().get()
    response = api.patch(detail(campaign), payload, format="json")
    assert response.status_code == 400
    assert Campaign.objects.filter(pk=campaign.pk).values().get() == before


@pytest.mark.parametrize("status", ["running", "completed", "failed"])
def test_update_outside_editable_statuses_answers_409_even_for_name(api, status):
    campaign = CampaignFactory(status=status, name="Orig")
    for payload in ({"name": "Changed"}, {}):
        response = api.patch(detail(campaign), payload, format="json")
        assert response.status_code == 409
        assert response.json()["code"] == "invalid_state"
    campaign.refresh_from_db()
    assert campaign.name == "Orig"


def test_update_unknown_campaign_answers_404(api):
    assert api.patch(f"{URL}/987654", {"name": "x"}, format="json").status_code == 404


# --- delete ---------------------------------------------------------------------------


def test_delete_answers_200_then_404_everywhere(api):
    campaign = CampaignFactory()
    response = api.delete(detail(campaign))
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["message"]
    assert body["campaign_id"] == campaign.campaign_id
    assert body["deleted_at"]
    assert Campaign.all_objects.get(pk=campaign.pk).deleted_at is not None
    for call in (
        lambda: api.get(detail(campaign)),
        lambda: api.get(f"{URL}/{campaign.campaign_id}"),
        lambda: api.patch(detail(campaign), {"name": "x"}, format="json"),
        lambda: api.put(detail(campaign), {"name": "x"}, format="json"),
        lambda: api.delete(detail(campaign)),
        lambda: api.post(f"{detail(campaign)}/launch", {}, format="json"),
        lambda: api.post(f"{detail(campaign)}/pause"),
        lambda: api.post(f"{detail(campaign)}/resume"),
        lambda: api.post(f"{detail(campaign)}/test", {"test_email": "t@example.com"}, format="json"),
    ):
        answer = call()
        assert answer.status_code == 404, answer.request
        assert answer.json()["code"] == "not_found"
    assert api.get(URL).json()["total"] == 0


def test_deleted_campaign_name_can_be_reused(api):
    campaign = CampaignFactory(name="Reusable")
    api.delete(detail(campaign))
    response = api.post(URL, {"name": "Reusable"}, format="json")
    assert response.status_code == 201
    assert api.get(URL).json()["total"] == 1


@pytest.mark.parametrize("status", ["draft", "scheduled", "paused", "completed", "failed"])
def test_delete_allowed_unless_running(api, status):
    campaign = CampaignFactory(status=status)
    assert api.delete(detail(campaign)).status_code == 200


def test_delete_running_campaign_answers_409_and_keeps_it(api):
    campaign = CampaignFactory(status="running")
    response = api.delete(detail(campaign))
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    campaign.refresh_from_db()
    assert campaign.deleted_at is None and campaign.status == "running"


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_body_over_the_size_limit_answers_413_in_the_api_shape(api, settings, content_type):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = '{"name": "%s"}' % ("x" * 2000) if content_type == "application/json" else "name=" + "x" * 2000
    response = api.generic("POST", URL, body, content_type=content_type)
    assert response.status_code == 413
    assert response.json() == {"detail": "The request body is over its size limit.", "code": "request_too_large"}
    assert not Campaign.objects.exists()


def test_form_with_too_many_fields_answers_400_in_the_api_shape(api, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    body = "&".join(f"f{i}=x" for i in range(20))
    response = api.generic("POST", URL, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert response.json()["code"] == "too_many_fields"
    assert not Campaign.objects.exists()
