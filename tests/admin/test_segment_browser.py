"""The segment builder in a real headless Chromium: rows of field / op / value, the live
member count and sample, saving, and adding the segment to a campaign from the campaign page."""

import pytest
from playwright.sync_api import expect

from campaigns.models import CampaignRecipient, Segment
from tests.admin.test_browser import log_in, page  # noqa: F401  (the fixture)
from tests.factories import CampaignFactory, LeadFactory, SuppressionFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]
# Waits use `expect` (polled by Playwright), not wait_for_function: the page's
# Content-Security-Policy forbids evaluating strings as script, as it should.


def test_marketer_builds_a_segment_sees_the_live_count_and_adds_it_to_a_campaign(page, live_server):  # noqa: F811
    LeadFactory(email="ann@example.com", city="Austin", tags=["vip"])
    LeadFactory(email="bob@example.com", city="austin", tags=["vip", "roofing"])
    LeadFactory(email="cid@example.com", city="Austin", tags=[])
    LeadFactory(email="dee@example.com", city="Dallas", tags=["vip"])
    LeadFactory(email="eve@example.com", city="Austin", tags=["vip"])
    SuppressionFactory(email="eve@example.com")
    campaign = CampaignFactory(name="Spring offer")

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/campaigns/segment/add/")
    page.fill("#id_name", "Austin VIPs")
    count = page.locator("#ft-segment-count")
    expect(count).to_have_text("4")  # no rows: everyone but eve

    page.click("#ft-add-row")
    row = page.locator("#ft-rows .ft-row").nth(0)
    row.locator(".ft-field").select_option("city")
    row.locator(".ft-op").select_option("eq")
    row.locator(".ft-value").fill("AUSTIN")
    expect(page.locator("#ft-segment-count")).to_have_text("3")
    assert "1 more match but are suppressed" in page.locator("#ft-suppressed").inner_text()
    assert set(page.locator("#ft-sample li").all_inner_texts()) and all(
        "Austin" in text or "austin" in text for text in page.locator("#ft-sample li").all_inner_texts()
    )

    page.click("#ft-add-row")
    row = page.locator("#ft-rows .ft-row").nth(1)
    row.locator(".ft-field").select_option("tags")
    row.locator(".ft-op").select_option("has_any")
    row.locator(".ft-value").fill("vip, gold")
    expect(page.locator("#ft-segment-count")).to_have_text("2")
    assert count.inner_text() == "2"

    page.locator("#ft-match").select_option("any")  # Austin or vip: ann, bob, cid, dee
    expect(page.locator("#ft-segment-count")).to_have_text("4")
    page.locator("#ft-match").select_option("all")
    expect(page.locator("#ft-segment-count")).to_have_text("2")

    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")
    segment = Segment.objects.get(name="Austin VIPs")
    assert segment.rules == {
        "match": "all",
        "conditions": [
            {"field": "city", "op": "eq", "value": "AUSTIN"},
            {"field": "tags", "op": "has_any", "value": ["vip", "gold"]},
        ],
    }
    # The saved page rebuilds the rows from the stored rules and counts again.
    expect(page.locator("#ft-segment-count")).to_have_text("2")
    assert page.locator("#ft-rows .ft-row").count() == 2

    # From the campaign page: "Add recipients…", the segment.
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.click("#ft-add-recipients-link")
    page.locator("#id_segment-segment").select_option(str(segment.pk))
    page.click("#ft-add-segment-submit")
    expect(page.locator(".messagelist li")).to_contain_text("Added 2 recipient(s). Not added: 1 suppressed.")
    assert set(CampaignRecipient.objects.filter(campaign=campaign).values_list("email_address", flat=True)) == {
        "ann@example.com",
        "bob@example.com",
    }


def test_a_bad_rule_shows_its_error_instead_of_a_count(page, live_server):  # noqa: F811
    LeadFactory()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/campaigns/segment/add/")
    page.click("#ft-add-row")
    row = page.locator("#ft-rows .ft-row").nth(0)
    row.locator(".ft-field").select_option("created_at")
    row.locator(".ft-op").select_option("before")
    row.locator(".ft-value").fill("someday")

    expect(page.locator("#ft-errors")).to_contain_text("Condition 0")
    assert page.locator("#ft-segment-count").inner_text() == "–"
