"""The follow-up steps inline and the replies inbox in a real headless Chromium."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignStep
from tests.admin.test_browser import log_in, page  # noqa: F401  (fixture)
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, LeadFactory
from tracking.models import Reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]


def test_marketer_adds_a_follow_up_and_reads_a_reply_in_the_inbox(page, live_server):  # noqa: F811
    template = EmailTemplateFactory(name="Follow-up template")
    campaign = CampaignFactory(name="Browser sequence")
    lead = LeadFactory(email="owner@shop.example")
    recipient = CampaignRecipientFactory(campaign=campaign, lead=lead)
    Reply.objects.create(
        campaign_id=campaign.pk,
        recipient=recipient,
        step=1,
        message_id="<browser-reply@x>",
        from_header="Shop Owner <owner@shop.example>",
        subject="Re: offer",
        text="Please call me on Monday",
        received_at=timezone.now(),
    )

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.click("#steps-group .add-row a")
    page.fill("#id_steps-0-position", "1")
    page.fill("#id_steps-0-delay", "P2D")
    page.select_option("#id_steps-0-condition", "no_open")
    page.evaluate(
        "([id]) => { const s = document.querySelector('#id_steps-0-template');"
        " s.add(new Option('Follow-up template', id, true, true)); }",
        [str(template.pk)],
    )
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    step = CampaignStep.objects.get(campaign=campaign)
    assert (step.position, step.delay, step.condition) == (1, timedelta(days=2), "no_open")

    page.click("#ft-inbox-link")
    row = page.locator("#result_list tbody tr", has_text="Please call me on Monday")
    assert "Shop Owner" in row.inner_text()
    row.locator("a", has_text="owner@shop.example").click()
    page.wait_for_selector("#id_email")
    assert page.input_value("#id_email") == "owner@shop.example"
