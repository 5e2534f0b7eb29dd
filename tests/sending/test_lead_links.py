"""Links built from lead data (CONTRACT.md, Privacy and safety): tracked only when their host
is one the template's own links name or one in TRACKING_ALLOWED_HOSTS; otherwise left as they
are, so the tracking domain never redirects to an address a lead's data supplied."""

import re

import pytest
from django.utils import timezone

from campaigns import sending
from campaigns.models import Campaign, CampaignLink, CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory

pytestmark = pytest.mark.django_db

HTML = (
    '<html><body><p><a href="https://fliptech.example/offer">Offer</a> '
    '<a href="{{ lead.attributes.url }}">Your page</a> '
    '<a href="https://listings.example/{{ lead.attributes.slug }}">Listing</a></p></body></html>'
)
TEXT = "Your page: {{ lead.attributes.url }}\n"


def send_to(urls, settings, allowed=()):
    settings.TRACKING_ALLOWED_HOSTS = list(allowed)
    template = EmailTemplateFactory(body_html=HTML, body_text=TEXT)
    campaign = CampaignFactory(template=template, status=Campaign.Status.RUNNING, started_at=timezone.now())
    for i, url in enumerate(urls):
        lead = LeadFactory(email=f"l{i}@example.net", attributes={"url": url, "slug": f"s{i}"})
        CampaignRecipientFactory(campaign=campaign, lead=lead)
    sending.send_batch(campaign.pk)
    return campaign


def hrefs(message):
    html = message.get_body(("html",)).get_content()
    return re.findall(r'href="([^"]+)"', html)


def message_for(smtp_server, address):
    return next(m for m in smtp_server.parsed() if address in m["To"])


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/phish",
        "https://fliptech.example@evil.example/",  # userinfo: the host is evil.example
        "https://evil.example\\@fliptech.example/",  # a browser takes the backslash for a slash
        "https://FLIPTECH.example.evil.example/",
    ],
)
def test_a_lead_supplied_link_to_another_host_is_left_untracked(smtp_settings, smtp_server, settings, url):
    campaign = send_to([url], settings)
    message = message_for(smtp_server, "l0@example.net")
    links = hrefs(message)
    assert links[1] == url.replace("&", "&amp;")
    assert url in message.get_body(("plain",)).get_content()
    assert not CampaignLink.objects.filter(campaign=campaign, url=url).exists()
    # The template's own links are tracked, the one it builds on its own host too.
    assert links[0].startswith("https://mail.example.com/t/c/")
    assert links[2].startswith("https://mail.example.com/t/c/")


def test_a_lead_supplied_link_to_the_templates_own_host_is_tracked(smtp_settings, smtp_server, settings):
    campaign = send_to(["https://fliptech.example/you"], settings)
    links = hrefs(message_for(smtp_server, "l0@example.net"))
    assert links[1].startswith("https://mail.example.com/t/c/")
    assert CampaignLink.objects.filter(campaign=campaign, url="https://fliptech.example/you").exists()


def test_tracking_allowed_hosts_adds_hosts(smtp_settings, smtp_server, settings):
    campaign = send_to(["https://partner.example/deal"], settings, allowed=["partner.example"])
    links = hrefs(message_for(smtp_server, "l0@example.net"))
    assert links[1].startswith("https://mail.example.com/t/c/")
    assert CampaignLink.objects.filter(campaign=campaign, url="https://partner.example/deal").exists()


def test_the_click_path_never_redirects_to_a_lead_supplied_host(smtp_settings, smtp_server, settings, client):
    campaign = send_to(["https://evil.example/phish"], settings)
    recipient = CampaignRecipient.objects.get(campaign=campaign)
    for link in CampaignLink.objects.filter(campaign=campaign):
        response = client.get(f"/t/c/{recipient.token}/{link.pk}")
        assert response.status_code == 302
        assert "evil.example" not in response["Location"]
