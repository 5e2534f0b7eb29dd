"""The campaign page's follow-up steps inline and the replies inbox, through the test client."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignStep
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory
from tracking.models import Reply

pytestmark = pytest.mark.django_db


def change_url(campaign):
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def test_steps_are_added_on_the_campaign_page_and_numbered_in_order(admin_client):
    campaign = CampaignFactory(name="Seq")
    form = admin_client.get(change_url(campaign)).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k in form.fields}
    data.update({"template": campaign.template_id, "track_opens": "on", "track_clicks": "on"})
    template = EmailTemplateFactory()
    data.update(
        {
            "steps-TOTAL_FORMS": "2",
            "steps-INITIAL_FORMS": "0",
            "steps-0-position": "5",
            "steps-0-delay": "P3D",
            "steps-0-condition": "no_reply",
            "steps-0-template": template.pk,
            "steps-1-position": "9",
            "steps-1-delay": "2 00:00:00",
            "steps-1-condition": "no_open",
            "steps-1-template": template.pk,
            "steps-1-subject": "Last try",
        }
    )
    response = admin_client.post(change_url(campaign), data)
    assert response.status_code == 302, response.context and response.context.get("errors")
    steps = list(CampaignStep.objects.filter(campaign=campaign).values_list("position", "delay", "subject"))
    assert steps == [(1, timedelta(days=3), ""), (2, timedelta(days=2), "Last try")]


def test_a_running_campaigns_steps_are_read_only(admin_client):
    campaign = CampaignFactory(status=Campaign.Status.RUNNING)
    CampaignStep.objects.create(campaign=campaign, position=1, delay=timedelta(days=1), template=campaign.template)
    response = admin_client.get(change_url(campaign))
    inline = response.context["inline_admin_formsets"][0]
    assert not inline.has_add_permission and not inline.has_change_permission and not inline.has_delete_permission


def test_the_inbox_lists_a_campaigns_replies_with_sender_step_and_lead(admin_client):
    campaign = CampaignFactory()
    lead = LeadFactory(email="owner@shop.example")
    recipient = CampaignRecipientFactory(campaign=campaign, lead=lead)
    Reply.objects.create(
        campaign_id=campaign.pk,
        recipient=recipient,
        step=1,
        message_id="<r1@x>",
        from_header="Shop Owner <owner@shop.example>",
        subject="Re: offer",
        text="Call me",
        received_at=timezone.now(),
    )
    other = CampaignRecipientFactory()
    Reply.objects.create(
        campaign_id=other.campaign_id, recipient=other, message_id="<r2@x>", text="Other", received_at=timezone.now()
    )
    page = admin_client.get(change_url(campaign)).content.decode()
    assert f"/admin/tracking/reply/?campaign={campaign.pk}" in page
    response = admin_client.get(reverse("admin:tracking_reply_changelist") + f"?campaign={campaign.pk}")
    html = response.content.decode()
    assert response.status_code == 200 and "Call me" in html and "Other" not in html
    assert "Shop Owner" in html and reverse("admin:campaigns_lead_change", args=[lead.pk]) in html
    assert admin_client.get(reverse("admin:tracking_reply_changelist") + "?campaign=abc").status_code == 200
