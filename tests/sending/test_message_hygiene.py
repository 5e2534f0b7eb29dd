"""What a message carries for the mailbox providers and the reader: List-Id, Feedback-ID, the
template's <style> block (so @media rules work on phones), and a view-in-browser page."""

import re

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.factories import CampaignFactory, EmailTemplateFactory
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db

RESPONSIVE = (
    "<html><head><style>.box{width:600px} @media (max-width: 600px) { .box { width: 100% !important } }</style>"
    '</head><body><div class="box">Hi {{ lead.first_name }}</div>'
    '<a href="{{ view_in_browser_url }}">View in your browser</a> '
    '<a href="https://fliptech.example/offer">Offer</a></body></html>'
)


def send_one(name="Spring sale"):
    campaign = CampaignFactory(
        name=name,
        template=EmailTemplateFactory(body_html=RESPONSIVE),
        status=Campaign.Status.RUNNING,
        started_at=timezone.now(),
        from_email="news@fliptech.example",
    )
    lead = Lead.objects.create(email="ann@example.net", first_name="Ann")
    CampaignRecipient.objects.create(campaign=campaign, lead=lead, email_address=lead.email, first_name="Ann")
    assert sending.send_batch(campaign.pk).sent == 1
    return campaign, CampaignRecipient.objects.get(campaign=campaign)


def test_list_id_and_feedback_id_name_the_campaign_and_the_sender_domain(smtp_settings, smtp_server):
    campaign, _ = send_one('Spring "big" sale')
    message = smtp_server.parsed()[0]
    assert message["List-Id"] == f'"Spring \\"big\\" sale" <{campaign.campaign_id}.fliptech.example>'
    assert message["Feedback-ID"] == f"{campaign.campaign_id}:fliptech.example"


def test_the_style_block_survives_inlining(smtp_settings, smtp_server):
    send_one()
    html = smtp_server.parsed()[0].get_body(("html",)).get_content()
    assert 'class="box" style="width: 600px;"' in html
    assert "@media (max-width: 600px)" in html


def test_view_in_browser_shows_the_message_with_its_tracked_links_and_records_nothing(smtp_settings, smtp_server):
    _, recipient = send_one()
    html = smtp_server.parsed()[0].get_body(("html",)).get_content()
    url = f"https://mail.example.com/v/{recipient.token}/"
    assert f'href="{url}"' in html  # our own link: not click-tracked

    page = Client().get(f"/v/{recipient.token}/")
    assert page.status_code == 200 and page["Cache-Control"] == "private, no-store"
    body = page.content.decode()
    assert "Hi Ann" in body and "@media (max-width: 600px)" in body
    (tracked,) = re.findall(rf"https://mail\.example\.com/t/c/{recipient.token}/\d+", body)
    assert tracked in html  # the same tracked link as in the message
    assert "/t/o/" not in body  # no open pixel
    assert not EmailTracking.objects.exists()
    recipient.refresh_from_db()
    assert recipient.opened_at is None


def test_view_in_browser_with_an_unknown_token_is_404(smtp_settings):
    assert Client().get("/v/not-a-token/").status_code == 404
