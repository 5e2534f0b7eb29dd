"""A user of the Marketer group runs a campaign in a real headless Chromium: edits a lead's
tags, schedules the campaign by typing a date and saving, launches it, watches the live
numbers rise without reloading, pauses and resumes, and reads the dashboard's and the
comparison's charts (their canvases are drawn, not blank)."""

import csv
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignRecipient, Lead
from tests.admin.test_browser import PASSWORD, page  # noqa: F401  (the fixture)
from tests.factories import (
    CampaignFactory,
    CampaignRecipientFactory,
    EmailTrackingFactory,
    LeadFactory,
    UserFactory,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CANVAS_DRAWN = """(id) => {
  const c = document.getElementById(id);
  if (!c || !c.width || !c.height) return false;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) return true;
  return false;
}"""


def log_in_as_marketer(page, live_server, group):  # noqa: F811
    user = UserFactory(username="mia", is_staff=True, password=PASSWORD)
    user.groups.add(group)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "mia")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")
    assert page.locator("#site-name").inner_text() == "FlipTech Campaigns"
    assert page.locator("a[href='/admin/auth/user/']").count() == 0


def test_a_marketer_runs_a_campaign_and_reads_its_charts(page, live_server, settings, monkeypatch, marketer_group):  # noqa: F811
    """The sending itself is played by the test (it marks the recipients sent, as the worker
    would): what is under test is the page, which must show the rise without reloading."""
    settings.ADMIN_LIVE_POLL_MS = 200
    queued = []
    monkeypatch.setattr("campaigns.tasks.send_campaign.delay", lambda *args: queued.append(args))
    tests_sent = []
    monkeypatch.setattr("campaigns.tasks.send_test_email.delay", lambda *args, **kw: tests_sent.append(args))
    leads = [
        LeadFactory(email=f"p{i}@{domain}", tags=[]) for i, domain in enumerate(["gmail.com", "gmail.com", "yahoo.com"])
    ]
    campaign = CampaignFactory(name="Spring offer")
    other = CampaignFactory(name="Winter offer", status=Campaign.Status.COMPLETED)
    for lead in leads:
        CampaignRecipientFactory(campaign=campaign, lead=lead, email_address=lead.email)
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=3)

    log_in_as_marketer(page, live_server, marketer_group)

    # A lead's tags as one line.
    page.goto(f"{live_server.url}/admin/campaigns/lead/{leads[0].pk}/change/")
    assert page.locator("#ft-suppressed").inner_text() == "Not suppressed"
    page.fill("#id_tags", "vip, roofing")
    page.click("input[name=_save]")
    page.wait_for_selector(".messagelist .success")
    assert Lead.objects.get(pk=leads[0].pk).tags == ["vip", "roofing"]

    # The template editor previews unsaved edits for a lead chosen by email.
    page.goto(f"{live_server.url}/admin/campaigns/emailtemplate/{campaign.template_id}/change/")
    page.fill("#id_subject", "Hello {{ lead.first_name }}, from the editor")
    page.fill("#ft-preview-lead", leads[0].email)
    expect(page.locator("#ft-preview-for")).to_contain_text("p0@gmail.com")  # CSP: no wait_for_function
    assert page.locator("#ft-preview-subject").inner_text() == f"Subject: Hello {leads[0].first_name}, from the editor"
    assert page.locator("#ft-merge-tags [data-tag='{{ unsubscribe_url }}']").count() == 1

    # A test message, then a date typed and saved schedules the campaign.
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.fill("input[name=test_email]", "mia@example.com")
    page.click("#ft-send-test")
    page.wait_for_selector(".messagelist .success")
    assert "queued for mia@example.com" in page.locator(".messagelist").inner_text() and len(tests_sent) == 1
    when = timezone.localtime(timezone.now() + timedelta(days=3))
    page.fill("#id_scheduled_at_0", f"{when:%Y-%m-%d}")
    page.fill("#id_scheduled_at_1", "09:30:00")
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    assert "is scheduled for" in page.locator(".messagelist").inner_text()
    assert page.locator("#ft-status").inner_text() == "Scheduled"

    # Launch now; the numbers rise while the page stays open.
    page.click("#ft-launch")
    page.wait_for_selector(".messagelist .success")
    assert page.locator("#ft-status").inner_text() == "Running"
    assert queued == [(campaign.pk,)]
    assert page.locator("#ft-sent").inner_text() == "0"
    now = timezone.now()
    CampaignRecipient.objects.filter(campaign=campaign).update(status="sent", sent_at=now)
    expect(page.locator("#ft-sent")).to_have_text("3")
    assert page.locator("#ft-progress-bar").get_attribute("value") is not None
    expect(page.locator("#ft-progress-bar")).to_have_js_property("value", 100)

    page.click("#ft-pause")
    page.wait_for_selector(".messagelist .success")
    assert page.locator("#ft-status").inner_text() == "Paused"
    page.click("#ft-resume")
    page.wait_for_selector(".messagelist .success")
    assert page.locator("#ft-status").inner_text() == "Running"

    with page.expect_download() as download:
        page.click("#ft-export-recipients")
    rows = list(csv.DictReader(open(download.value.path(), encoding="utf-8-sig")))
    assert sorted((r["email"], r["status"]) for r in rows) == sorted((lead.email, "sent") for lead in leads)

    # Results: the dashboard draws every section that has data.
    for r in CampaignRecipient.objects.filter(campaign=campaign):
        EmailTrackingFactory(
            campaign_recipient=r, event_type="open", user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"
        )
    CampaignRecipient.objects.filter(campaign=campaign).update(opened_at=now + timedelta(minutes=5))
    page.click("#ft-dashboard-link")
    page.wait_for_load_state("load")  # the charts are drawn by deferred scripts
    for chart in ("hourly", "devices", "clients", "domains", "engagement"):
        assert page.evaluate(CANVAS_DRAWN, f"ft-chart-{chart}"), chart

    page.goto(f"{live_server.url}/admin/campaigns/campaign/compare/?ids={campaign.pk},{other.pk}")
    assert page.locator("#ft-compare-table tbody tr").count() == 2
    assert page.evaluate(CANVAS_DRAWN, "ft-compare-chart")
