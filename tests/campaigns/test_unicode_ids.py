"""Every id taken from a URL, a query string or a body is read by `fliptech.ids.parse_pk`:
a Unicode digit ("²", Arabic-Indic "١٢") is not an id — the answer is 404 for a path and
400 for a query or body value, never a 500, and nothing changes."""

from unittest import mock

import pytest
from django.urls import reverse

from campaigns import tasks
from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db

ODD = ["²", "١٢", "1²"]


@pytest.mark.parametrize("odd", ODD)
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/campaigns/{odd}",
        "/api/v1/campaigns/{odd}/recipients",
        "/api/v1/leads/{odd}",
        "/api/v1/templates/{odd}",
    ],
)
def test_a_unicode_digit_in_a_path_answers_404(api, path, odd):
    response = api.get(path.format(odd=odd))

    assert response.status_code == 404
    if response.headers["Content-Type"].startswith("application/json"):
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("odd", ODD)
def test_removing_recipient_with_a_unicode_digit_answers_404_and_removes_nothing(api, odd):
    campaign = CampaignFactory(total_recipients=1)
    CampaignRecipientFactory(campaign=campaign)

    response = api.delete(f"/api/v1/campaigns/{campaign.pk}/recipients/{odd}")

    assert response.status_code == 404
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 1


@pytest.mark.parametrize("odd", ODD)
def test_a_unicode_digit_as_template_filter_answers_400(api, odd):
    response = api.get("/api/v1/campaigns", {"template_id": odd})

    assert response.status_code == 400
    assert "template_id" in response.json()


@pytest.mark.parametrize("odd", ODD)
def test_a_unicode_digit_as_template_id_of_a_new_campaign_answers_400(api, odd):
    response = api.post("/api/v1/campaigns", {"name": "Spring", "template_id": odd}, format="json")

    assert response.status_code == 400
    assert "template_id" in response.json()
    assert not Campaign.objects.filter(name="Spring").exists()


@pytest.mark.parametrize("odd", ODD)
def test_a_unicode_digit_in_lead_ids_answers_400_and_adds_nothing(api, odd):
    campaign = CampaignFactory()
    LeadFactory()

    response = api.post(f"/api/v1/campaigns/{campaign.pk}/recipients", {"lead_ids": [odd]}, format="json")

    assert response.status_code == 400
    assert response.json() == {"lead_ids": {"0": ["A valid integer is required."]}}
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()


@pytest.mark.parametrize("odd", ODD)
def test_a_unicode_digit_as_lead_of_a_test_message_answers_400(api, odd):
    campaign = CampaignFactory()
    with mock.patch.object(tasks.send_test_email, "delay") as delay:
        response = api.post(
            f"/api/v1/campaigns/{campaign.pk}/test", {"test_email": "qa@example.org", "lead_id": odd}, format="json"
        )

    assert response.status_code == 400
    assert "lead_id" in response.json()
    delay.assert_not_called()


@pytest.mark.parametrize("odd", ODD)
def test_a_unicode_digit_as_lead_of_a_template_preview_answers_400(api, odd):
    template = EmailTemplateFactory()

    response = api.post(f"/api/v1/templates/{template.pk}/preview", {"lead_id": odd}, format="json")

    assert response.status_code == 400
    assert "lead_id" in response.json()


def test_ascii_ids_still_work_in_the_same_places(api):
    template = EmailTemplateFactory()
    campaign = CampaignFactory(template=template, total_recipients=1)
    recipient = CampaignRecipientFactory(campaign=campaign)

    assert api.get(f"/api/v1/campaigns/{campaign.pk}").status_code == 200
    assert api.get("/api/v1/campaigns", {"template_id": str(template.pk)}).json()["total"] == 1
    assert api.post(f"/api/v1/templates/{template.pk}/preview", {"lead_id": None}, format="json").status_code == 200
    assert api.delete(f"/api/v1/campaigns/{campaign.pk}/recipients/{recipient.pk}").status_code == 200


@pytest.mark.parametrize("odd", ODD)
def test_admin_buttons_with_a_unicode_digit_answer_404(admin_client, odd):
    for suffix in ("launch", "pause", "resume", "schedule", "send-test"):
        assert admin_client.post(f"/admin/campaigns/campaign/{odd}/{suffix}/").status_code == 404


@pytest.mark.parametrize("odd", ODD)
def test_admin_lists_filtered_by_a_unicode_digit_show_nothing(admin_client, odd):
    CampaignRecipientFactory()

    response = admin_client.get(reverse("admin:campaigns_campaignrecipient_changelist"), {"campaign": odd})

    assert response.status_code == 200
    assert response.context["cl"].result_count == 0


@pytest.mark.parametrize("odd", ODD)
def test_admin_template_preview_for_a_unicode_digit_answers_404(admin_client, odd):
    template = EmailTemplateFactory()

    assert admin_client.get(f"/admin/campaigns/emailtemplate/{odd}/preview/").status_code == 404
    # An odd lead id is "no lead": the preview falls back to sample data.
    assert admin_client.get(f"/admin/campaigns/emailtemplate/{template.pk}/preview/", {"lead": odd}).status_code == 200
