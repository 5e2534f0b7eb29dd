"""The sender renders within the budget: a message over it fails the campaign with a reason
that names the line and the setting, never a lead's data or a token."""

import time

import pytest
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db

SLOW_FOR_BIG = (
    "<p>Hi {{ lead.first_name }}</p>\n{% if lead.attributes.big %}"
    '{% for a in "x"|ljust:"1000"|make_list %}{% for b in "x"|ljust:"1000"|make_list %}{% endfor %}{% endfor %}'
    "{% endif %}"
)
LEAKY = "<p>Hi</p>\n\n<p>{{ lead.first_name|add:lead.attributes.nope }}</p>"


def running(body_html, leads):
    template = EmailTemplateFactory(body_html=body_html)
    campaign = CampaignFactory(template=template, status=Campaign.Status.RUNNING, started_at=timezone.now())
    for lead in leads:
        CampaignRecipientFactory(campaign=campaign, lead=lead)
    return campaign


@pytest.mark.parametrize("track_clicks", [True, False])
def test_a_message_over_the_time_budget_fails_the_campaign_quickly(smtp_settings, smtp_server, settings, track_clicks):
    settings.TEMPLATE_RENDER_TIMEOUT = 0.3
    leads = [LeadFactory(email="ok@example.net"), LeadFactory(email="big@example.net", attributes={"big": 1})]
    campaign = running(SLOW_FOR_BIG, leads)
    Campaign.objects.filter(pk=campaign.pk).update(track_clicks=track_clicks)
    started = time.monotonic()
    sending.send_batch(campaign.pk)
    assert time.monotonic() - started < 3
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED
    assert "TEMPLATE_RENDER_TIMEOUT" in campaign.failure_reason and "line 2" in campaign.failure_reason
    assert "big@" not in campaign.failure_reason
    assert smtp_server.addresses() == ["ok@example.net"]


def test_failure_reason_holds_no_lead_data_or_token(smtp_settings, smtp_server, api):
    lead = LeadFactory(email="secret@example.net", first_name="Secretname", attributes={"x": "confidential"})
    campaign = running(LEAKY, [lead])
    token = CampaignRecipient.objects.get(campaign=campaign).token
    sending.send_batch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED
    assert "line 3" in campaign.failure_reason and "nope" in campaign.failure_reason
    answer = api.get(f"/api/v1/campaigns/{campaign.pk}").content.decode()
    for secret in ("secret@", "Secretname", "confidential", token):
        assert secret not in campaign.failure_reason
        assert secret not in answer
