"""Endpoints 16–19: recording events by API and listing a recipient's events."""

import pytest

from campaigns.models import CampaignRecipient, Suppression
from tests.tracking.conftest import HUMAN_UA
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status
FIELDS = {
    "id",
    "campaign_recipient_id",
    "campaign_id",
    "event_type",
    "event_data",
    "user_agent",
    "ip_address",
    "url",
    "is_machine",
    "created_at",
}


def base(r):
    return f"/api/v1/campaigns/tracking/{r.pk}"


def test_open_answers_201_with_every_field(api, sent_recipient):
    response = api.post(
        f"{base(sent_recipient)}/open",
        {"event_type": "bounce", "event_data": {"source": "app"}, "user_agent": HUMAN_UA, "ip_address": "203.0.113.4"},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == FIELDS
    assert body["event_type"] == "open"  # the path decides
    assert body["campaign_recipient_id"] == sent_recipient.pk
    assert body["campaign_id"] == sent_recipient.campaign_id
    assert (body["user_agent"], body["ip_address"], body["event_data"]) == (HUMAN_UA, "203.0.113.4", {"source": "app"})
    assert body["is_machine"] is False
    sent_recipient.refresh_from_db()
    assert sent_recipient.open_count == 1 and sent_recipient.opened_at is not None


def test_trailing_slash_and_empty_body_work(api, sent_recipient):
    response = api.post(f"{base(sent_recipient)}/open/", {}, format="json")
    assert response.status_code == 201


def test_click_takes_top_level_url_and_links_it(api, sent_recipient, link):
    response = api.post(f"{base(sent_recipient)}/click", {"url": link.url, "user_agent": HUMAN_UA}, format="json")
    assert response.status_code == 201
    assert response.json()["url"] == link.url
    assert EmailTracking.objects.get().link_id == link.pk


def test_click_takes_event_data_url(api, sent_recipient):
    response = api.post(
        f"{base(sent_recipient)}/click",
        {"event_data": {"url": "https://fliptech.example/x"}, "user_agent": HUMAN_UA},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["url"] == "https://fliptech.example/x"


def test_click_with_invalid_url_is_400(api, sent_recipient):
    response = api.post(f"{base(sent_recipient)}/click", {"url": "javascript:alert(1)"}, format="json")
    assert response.status_code == 400
    assert not EmailTracking.objects.exists()


def test_hard_bounce_suppresses_the_address(api, sent_recipient):
    response = api.post(
        f"{base(sent_recipient)}/bounce",
        {"event_data": {"bounce_type": "hard", "reason": "550 5.1.1 user unknown"}},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["event_data"]["reason"] == "550 5.1.1 user unknown"
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.BOUNCED
    assert Suppression.objects.get().reason == "hard_bounce"


def test_soft_bounce_does_not_suppress(api, sent_recipient):
    response = api.post(f"{base(sent_recipient)}/bounce", {"event_data": {"bounce_type": "soft"}}, format="json")
    assert response.status_code == 201
    assert not Suppression.objects.exists()


def test_bad_bounce_type_is_400_and_changes_nothing(api, sent_recipient):
    response = api.post(f"{base(sent_recipient)}/bounce", {"event_data": {"bounce_type": "medium"}}, format="json")
    assert response.status_code == 400
    assert "event_data" in response.json()
    assert not EmailTracking.objects.exists()


@pytest.mark.parametrize("body", [{"ip_address": "999.1.1.1"}, {"event_data": "nope"}, {"user_agent": ["x"]}])
def test_invalid_bodies_are_400(api, sent_recipient, body):
    assert api.post(f"{base(sent_recipient)}/open", body, format="json").status_code == 400


@pytest.mark.parametrize("rid", ["999999", "abc", "1" * 40])
def test_unknown_recipient_is_404(api, rid, db):
    response = api.post(f"/api/v1/campaigns/tracking/{rid}/open", {}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert api.get(f"/api/v1/campaigns/tracking/{rid}/events").status_code == 404


def test_recording_needs_credentials_and_permission(anon_client, client_for, viewer, sent_recipient):
    assert anon_client.post(f"{base(sent_recipient)}/open", {}, format="json").status_code == 401
    response = client_for(viewer).post(f"{base(sent_recipient)}/open", {}, format="json")
    assert response.status_code == 403
    assert not EmailTracking.objects.exists()
    # reading needs the view permissions (tests/campaigns/test_read_permissions.py)
    assert client_for(viewer).get(f"{base(sent_recipient)}/events").status_code == 403


def test_events_list_newest_first(api, sent_recipient):
    for kind in ("open", "click", "bounce"):
        api.post(f"{base(sent_recipient)}/{kind}", {"user_agent": HUMAN_UA}, format="json")
    response = api.get(f"{base(sent_recipient)}/events")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"recipient_id", "email_address", "events", "total_events"}
    assert body["recipient_id"] == sent_recipient.pk
    assert body["email_address"] == sent_recipient.email_address
    assert body["total_events"] == 3
    assert [e["event_type"] for e in body["events"]] == ["bounce", "click", "open"]
    assert set(body["events"][0]) == FIELDS


def test_soft_deleted_campaigns_recipient_is_404(api, sent_recipient):
    from django.utils import timezone

    sent_recipient.campaign.deleted_at = timezone.now()
    sent_recipient.campaign.save()
    assert api.post(f"{base(sent_recipient)}/open", {}, format="json").status_code == 404


@pytest.mark.parametrize("event", ["open", "click", "bounce"])
@pytest.mark.parametrize(
    "raw",
    [rb'{"event_data": {"a": "\u0000"}}', rb'{"event_data": {"\u0000": 1}}', rb'{"event_data": {"a": ["\ud800"]}}'],
    ids=["nul-value", "nul-key", "lone-surrogate"],
)
def test_event_data_that_jsonb_cannot_hold_is_400_and_changes_nothing(api, sent_recipient, event, raw):
    response = api.post(f"{base(sent_recipient)}/{event}", raw, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "event_data" in response.json()
    assert not EmailTracking.objects.exists()
