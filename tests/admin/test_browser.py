"""The admin in a real headless Chromium (Debian's, driven by playwright) against a live server.

Sending runs for real: Celery is switched to eager mode for the test, so the launch's
`send_campaign` task runs the sending engine inside the request, and the messages land in
Django's test outbox.
"""

import os
from email.utils import parseaddr

import pytest
from django.core import mail

from campaigns.models import Campaign
from tests.conftest import need
from tests.factories import CampaignFactory, CampaignRecipientFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.integration]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "browser-test-pw-1"


@pytest.fixture
def page(monkeypatch):
    need(os.path.exists(CHROMIUM), f"Chromium ({CHROMIUM})")
    # playwright's sync API runs an event loop in this thread; the ORM calls the test makes
    # between browser steps are still plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture
def eager_celery():
    from fliptech.celery import app

    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def log_in(page, live_server):
    UserFactory(username="marketer-admin", is_staff=True, is_superuser=True, password=PASSWORD)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "marketer-admin")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_marketer_launches_a_campaign_from_the_admin_and_sees_it_sent(page, live_server, eager_celery, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    campaign = CampaignFactory(name="Browser launch")
    for _ in range(5):
        CampaignRecipientFactory(campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(total_recipients=5)
    mail.outbox = []

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/")
    row = page.locator("#result_list tbody tr", has_text="Browser launch")
    assert row.locator(".ft-status").inner_text() == "Draft"

    row.locator("a", has_text="Browser launch").click()
    assert page.locator("#ft-status").inner_text() == "Draft"
    assert page.locator("#ft-stats").is_visible()
    assert page.locator("#ft-sent").inner_text() == "0"

    page.click("#ft-launch")

    page.wait_for_selector(".messagelist .success")
    assert "launched" in page.locator(".messagelist .success").inner_text()
    # The engine ran inside the launch (eager Celery): every recipient got one message.
    page.reload()
    assert page.locator("#ft-status").inner_text() == "Completed"
    assert page.locator("#ft-sent").inner_text() == "5"
    assert page.locator("#ft-stats svg.ft-chart").is_visible()
    assert sorted(parseaddr(m.to[0])[1] for m in mail.outbox) == sorted(
        campaign.recipients.values_list("email_address", flat=True)
    )
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED


def test_a_refused_launch_shows_the_reason_in_the_browser(page, live_server):
    campaign = CampaignFactory(name="No recipients yet")

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    page.click("#ft-launch")

    page.wait_for_selector(".messagelist .error")
    assert "no pending recipients" in page.locator(".messagelist .error").inner_text()
    assert page.locator("#ft-status").inner_text() == "Draft"
