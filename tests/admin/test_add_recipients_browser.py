"""Pasting addresses on a campaign's "Add recipients…" page in a real headless Chromium: the
result message names what was added and what was not, and the recipients are there."""

import pytest
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.admin.test_browser import log_in, page  # noqa: F401  (the fixture)
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory, SuppressionFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_marketer_pastes_addresses_on_the_campaign_page_and_reads_the_result(page, live_server):  # noqa: F811
    campaign = CampaignFactory(name="Spring offer")
    CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(email="already@example.com"))
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=1)
    LeadFactory(email="known@example.com", first_name="Kim")
    SuppressionFactory(email="gone@example.com")

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.click("#ft-add-recipients-link")
    expect(page.locator("#ft-recipient-count")).to_have_text("1")
    page.fill(
        "#id_paste-addresses",
        "known@example.com\nNew Person <new@example.com>, already@example.com\ngone@example.com; oops\nnew@example.com",
    )
    page.click("#ft-add-paste-submit")

    message = page.locator(".messagelist > li")
    expect(message).to_contain_text("Added 2 recipient(s) (2 new lead(s) created).")
    expect(message).to_contain_text("Not added: 1 already recipients, 1 repeated in the list, 1 suppressed, 1 invalid.")
    expect(message).to_contain_text("oops")
    expect(page.locator("#ft-total")).to_have_text("3")  # back on the campaign page, its count moved
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("email_address", flat=True)) == {
        "already@example.com",
        "known@example.com",
        "new@example.com",
    }
    assert Lead.objects.get(email="known@example.com").first_name == "Kim"
