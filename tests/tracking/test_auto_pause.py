"""Auto-pause from the results providers report: a complaint or a hard bounce that crosses a
limit pauses the running campaign at once (the webhook that records it decides), with
`pause_reason`; a person's pause says nothing, and resume clears it."""

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory
from tests.tracking.test_webhooks import anymail_settings, auth, mailgun, mailgun_event, post_mailgun  # noqa: F401

pytestmark = pytest.mark.django_db
MESSAGE_ID = "<20261126.abc123@mail.fliptech.example>"  # the one test_webhooks' payloads name


@pytest.fixture
def running(db):
    """A running campaign that has sent 100 messages (one of them with MESSAGE_ID) and has
    more pending."""
    campaign = CampaignFactory(status=Campaign.Status.RUNNING, started_at=timezone.now())
    now = timezone.now()
    CampaignRecipient.objects.bulk_create(
        CampaignRecipient(
            campaign=campaign,
            email_address=f"r{i}@example.net",
            status=CampaignRecipient.Status.SENT,
            sent_at=now,
            message_id=MESSAGE_ID if i == 0 else f"<{i}@x>",
        )
        for i in range(100)
    )
    CampaignRecipient.objects.create(campaign=campaign, email_address="later@example.net")
    return campaign


def recipient_0(campaign):
    return CampaignRecipient.objects.get(campaign=campaign, message_id=MESSAGE_ID)


def test_one_complaint_in_100_pauses_for_the_complaint_rate(running):
    # 1 / 100 delivered = 1 % > 0.3 % (the default)
    assert post_mailgun(mailgun(mailgun_event("complained", recipient_0(running))), **auth()).status_code == 200
    running.refresh_from_db()
    assert (running.status, running.pause_reason) == (Campaign.Status.PAUSED, "complaint_rate")
    assert running.paused_at is not None


def test_a_complaint_under_the_campaigns_own_limit_changes_nothing(running):
    Campaign.objects.filter(pk=running.pk).update(auto_pause_complaint_rate=2)
    post_mailgun(mailgun(mailgun_event("complained", recipient_0(running))), **auth())
    running.refresh_from_db()
    assert (running.status, running.pause_reason) == (Campaign.Status.RUNNING, "")


def test_hard_bounces_reported_later_pause_for_the_bounce_rate(running):
    Campaign.objects.filter(pk=running.pk).update(auto_pause_bounce_rate=0.5)
    body = mailgun(mailgun_event("failed", recipient_0(running), severity="permanent", reason="bounce"))
    assert post_mailgun(body, **auth()).status_code == 200  # 1 / 100 = 1 % > 0.5 %
    running.refresh_from_db()
    assert (running.status, running.pause_reason) == (Campaign.Status.PAUSED, "bounce_rate")


def test_a_person_pausing_leaves_no_reason_and_resume_clears_it(running, django_capture_on_commit_callbacks):
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.PAUSED, pause_reason="bounce_rate")
    running.refresh_from_db()
    with django_capture_on_commit_callbacks():
        services.campaign_resume(campaign=running)
    assert (running.status, running.pause_reason) == (Campaign.Status.RUNNING, "")
    services.campaign_pause(campaign=running)
    assert (running.status, running.pause_reason) == (Campaign.Status.PAUSED, "")


def test_the_limits_are_campaign_fields_in_the_api(api, running):
    Campaign.objects.filter(pk=running.pk).update(status=Campaign.Status.PAUSED)
    url = f"/api/v1/campaigns/{running.campaign_id}"
    answer = api.patch(url, {"auto_pause_bounce_rate": 150}, format="json")
    assert answer.status_code == 400 and "auto_pause_bounce_rate" in answer.json()
    answer = api.patch(url, {"auto_pause_bounce_rate": 8.5, "auto_pause_min_sample": 0}, format="json")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert (body["auto_pause_bounce_rate"], body["auto_pause_min_sample"]) == (8.5, 0)
    assert body["auto_pause_complaint_rate"] is None and body["pause_reason"] == ""
