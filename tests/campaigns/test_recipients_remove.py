"""DELETE /api/v1/campaigns/{id}/recipients/{rid} — endpoint 9."""

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory

pytestmark = pytest.mark.django_db

Status = Campaign.Status


def url(recipient, campaign=None):
    return f"/api/v1/campaigns/{(campaign or recipient.campaign).pk}/recipients/{recipient.pk}"


def make(campaign_status=Status.DRAFT, recipient_status=CampaignRecipient.Status.PENDING, recipients=2):
    campaign = CampaignFactory(status=campaign_status, total_recipients=recipients)
    made = [CampaignRecipientFactory(campaign=campaign, status=recipient_status) for _ in range(recipients)]
    return campaign, made[0]


@pytest.mark.parametrize("status", [Status.DRAFT, Status.SCHEDULED, Status.PAUSED])
def test_removing_a_pending_recipient_answers_success_and_decrements_the_total(api, status):
    campaign, recipient = make(status)

    response = api.delete(url(recipient))

    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["data"] == {"recipient_id": recipient.pk, "campaign_id": campaign.pk, "total_recipients": 1}
    assert recipient.email_address in body["message"]
    assert not CampaignRecipient.objects.filter(pk=recipient.pk).exists()
    campaign.refresh_from_db()
    assert campaign.total_recipients == 1


def test_public_id_and_trailing_slash_work(api):
    campaign, recipient = make()

    response = api.delete(f"/api/v1/campaigns/{campaign.campaign_id}/recipients/{recipient.pk}/")

    assert response.status_code == 200


def test_removing_from_a_running_campaign_answers_409_and_keeps_it(api):
    campaign, recipient = make(Status.RUNNING)

    response = api.delete(url(recipient))

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert CampaignRecipient.objects.filter(pk=recipient.pk).exists()
    campaign.refresh_from_db()
    assert campaign.total_recipients == 2


@pytest.mark.parametrize("status", ["queued", "sent", "failed", "bounced", "unsubscribed"])
def test_removing_a_recipient_that_is_not_pending_answers_409(api, status):
    campaign, recipient = make(Status.PAUSED, status)

    response = api.delete(url(recipient))

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_state"
    assert status in response.json()["detail"]
    assert CampaignRecipient.objects.filter(pk=recipient.pk).exists()
    campaign.refresh_from_db()
    assert campaign.total_recipients == 2


def test_a_recipient_of_another_campaign_answers_404(api):
    _, recipient = make()
    other = CampaignFactory()

    assert api.delete(url(recipient, other)).status_code == 404
    assert CampaignRecipient.objects.filter(pk=recipient.pk).exists()


@pytest.mark.parametrize("rid", ["999999", "abc", "1.0", "99999999999999999999999", "%00", "-1"])
def test_unknown_recipient_answers_404(api, rid):
    campaign, _ = make()

    assert api.delete(f"/api/v1/campaigns/{campaign.pk}/recipients/{rid}").status_code == 404


def test_deleted_campaign_answers_404(api):
    campaign, recipient = make()
    Campaign.objects.filter(pk=campaign.pk).update(deleted_at=timezone.now())

    assert api.delete(url(recipient)).status_code == 404


def test_without_credentials_answers_401(anon_client):
    _, recipient = make()

    assert anon_client.delete(url(recipient)).status_code == 401


def test_without_permission_answers_403(client_for, viewer):
    _, recipient = make()

    assert client_for(viewer).delete(url(recipient)).status_code == 403
    assert CampaignRecipient.objects.filter(pk=recipient.pk).exists()


def test_the_same_recipient_cannot_be_removed_twice(api):
    campaign, recipient = make()

    api.delete(url(recipient))
    second = api.delete(url(recipient))

    assert second.status_code == 404
    campaign.refresh_from_db()
    assert campaign.total_recipients == 1
