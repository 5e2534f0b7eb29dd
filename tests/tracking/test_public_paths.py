"""What mail clients hit: /t/o/<token>.gif, /t/c/<token>/<link>, /u/<token>/."""

import pytest
from django.db import connections
from django.test import Client

from campaigns.models import CampaignRecipient, Suppression
from tests.factories import CampaignLinkFactory, CampaignRecipientFactory
from tests.tracking.conftest import HUMAN_UA
from tracking.hits import PIXEL
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status


@pytest.fixture
def web():
    return Client(HTTP_USER_AGENT=HUMAN_UA, enforce_csrf_checks=True)


def assert_pixel(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response["Cache-Control"] == "no-store, private"
    assert response.content == PIXEL and len(response.content) == 43


# --- open pixel -------------------------------------------------------------------------


def test_pixel_records_an_open(web, sent_recipient):
    assert_pixel(web.get(f"/t/o/{sent_recipient.token}.gif"))
    sent_recipient.refresh_from_db()
    assert sent_recipient.opened_at is not None and sent_recipient.open_count == 1
    assert EmailTracking.objects.get().event_type == "open"


@pytest.mark.parametrize("token", ["nope", "a" * 64, "x" * 300, "%2e%2e", "abc!def", "'; drop table x;--"])
def test_pixel_for_unknown_token_is_the_gif_and_records_nothing(web, token, sent_recipient):
    assert_pixel(web.get(f"/t/o/{token}.gif"))
    assert not EmailTracking.objects.exists()


def test_pixel_head_request_is_a_machine_open(web, sent_recipient):
    response = web.head(f"/t/o/{sent_recipient.token}.gif")
    assert response.status_code == 200
    sent_recipient.refresh_from_db()
    assert (sent_recipient.opened_at, sent_recipient.machine_open_count) == (None, 1)


def test_pixel_is_served_when_the_database_is_unreachable(web, sent_recipient, settings, caplog):
    # Point the connection at a port where nothing listens, as if the database were down.
    conn = connections["default"]
    broken = {**conn.settings_dict}
    if conn.vendor == "sqlite":
        broken["NAME"] = "/nonexistent-dir/for-sure/db.sqlite3"
    else:
        broken["PORT"] = "1"
    saved = conn.settings_dict
    conn.close()
    conn.settings_dict = broken
    try:
        response = web.get(f"/t/o/{sent_recipient.token}.gif")
    finally:
        conn.close()
        conn.settings_dict = saved
    assert_pixel(response)
    assert "could not record an open" in caplog.text


# --- click ------------------------------------------------------------------------------


def test_click_redirects_to_the_stored_url_and_records(web, sent_recipient, link):
    response = web.get(f"/t/c/{sent_recipient.token}/{link.pk}")
    assert response.status_code == 302
    assert response["Location"] == "https://fliptech.example/offer?x=1"
    event = EmailTracking.objects.get()
    assert (event.event_type, event.link_id, event.url) == ("click", link.pk, link.url)
    sent_recipient.refresh_from_db()
    assert sent_recipient.clicked_at is not None and sent_recipient.opened_at is not None


def test_click_ignores_a_url_parameter(web, sent_recipient, link):
    response = web.get(f"/t/c/{sent_recipient.token}/{link.pk}?url=https://evil.example&next=https://evil.example")
    assert response.status_code == 302
    assert response["Location"] == link.url


def test_click_with_changed_link_id_is_404(web, sent_recipient, link):
    assert web.get(f"/t/c/{sent_recipient.token}/{link.pk + 1000}").status_code == 404
    assert not EmailTracking.objects.exists()


def test_click_on_another_campaigns_link_is_404(web, sent_recipient):
    foreign = CampaignLinkFactory(url="https://evil.example/")
    assert web.get(f"/t/c/{sent_recipient.token}/{foreign.pk}").status_code == 404
    assert not EmailTracking.objects.exists()


@pytest.mark.parametrize("path", ["/t/c/unknown-token/1", "/t/c/abc/notanumber", "/t/c/abc/99999999999999999999999"])
def test_click_with_unknown_token_or_bad_link_is_404(web, path):
    assert web.get(path).status_code == 404


# --- unsubscribe ------------------------------------------------------------------------


def test_unsubscribe_get_shows_a_confirm_page_and_changes_nothing(web, sent_recipient):
    response = web.get(f"/u/{sent_recipient.token}/")
    assert response.status_code == 200
    assert b"<form" in response.content and b"Unsubscribe" in response.content
    assert sent_recipient.email_address.encode() not in response.content
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.SENT
    assert not Suppression.objects.exists() and not EmailTracking.objects.exists()


def test_unsubscribe_button_post_unsubscribes_without_csrf_token(web, sent_recipient):
    response = web.post(f"/u/{sent_recipient.token}/")
    assert response.status_code == 200
    assert b"resubscribe" in response.content.lower()
    sent_recipient.refresh_from_db()
    assert sent_recipient.status == Status.UNSUBSCRIBED and sent_recipient.unsubscribed_at is not None
    assert Suppression.objects.get().email == sent_recipient.email_address.lower()


def test_one_click_post_without_cookies_or_csrf(sent_recipient):
    client = Client(enforce_csrf_checks=True)  # a mail provider: no cookies, no token
    response = client.post(
        f"/u/{sent_recipient.token}/",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert not response.cookies
    event = EmailTracking.objects.get()
    assert event.event_type == "unsubscribe" and event.event_data == {"one_click": True}
    assert Suppression.objects.filter(email=sent_recipient.email_address.lower()).exists()


def test_unsubscribe_twice_is_idempotent(web, sent_recipient):
    web.post(f"/u/{sent_recipient.token}/")
    stamp = CampaignRecipient.objects.get().unsubscribed_at
    assert web.post(f"/u/{sent_recipient.token}").status_code == 200
    assert CampaignRecipient.objects.get().unsubscribed_at == stamp
    assert Suppression.objects.count() == 1
    assert EmailTracking.objects.count() == 1


def test_resubscribe_from_the_confirmation_page(web, sent_recipient):
    web.post(f"/u/{sent_recipient.token}/")
    response = web.post(f"/u/{sent_recipient.token}/", {"action": "resubscribe"})
    assert response.status_code == 200
    assert not Suppression.objects.exists()
    assert CampaignRecipient.objects.get().status == Status.SENT


def test_unsubscribe_unknown_token_is_404(web):
    assert web.get("/u/no-such-token/").status_code == 404
    assert web.post("/u/no-such-token/").status_code == 404


def test_urls_carry_no_email_address(sent_recipient):
    from campaigns.rendering import click_url, open_url, unsubscribe_url

    for url in (
        open_url(sent_recipient.token),
        click_url(sent_recipient.token, 1),
        unsubscribe_url(sent_recipient.token),
    ):
        assert "@" not in url and sent_recipient.email_address.split("@")[0] not in url


def test_suppressed_address_is_reported_suppressed_in_another_campaign(api, web, sent_recipient):
    web.post(f"/u/{sent_recipient.token}/")
    other = CampaignRecipientFactory().campaign
    response = api.post(
        f"/api/v1/campaigns/{other.pk}/recipients", {"lead_ids": [sent_recipient.lead_id]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["suppressed"] == 1
    assert not CampaignRecipient.objects.filter(
        campaign=other, lead=sent_recipient.lead, status=Status.PENDING
    ).exists()


def test_sender_skips_an_address_unsubscribed_in_an_earlier_campaign(web, sent_recipient, settings, mailoutbox):
    from django.utils import timezone

    from campaigns import sending
    from campaigns.models import Campaign
    from tests.factories import CampaignFactory

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    web.post(
        f"/u/{sent_recipient.token}/",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    later = CampaignFactory(status=Campaign.Status.RUNNING, started_at=timezone.now())
    # added before the unsubscribe happened (so the audience check could not catch it)
    again = CampaignRecipientFactory(
        campaign=later, lead=sent_recipient.lead, email_address=sent_recipient.email_address.upper()
    )
    sending.send_batch(later.pk)
    again.refresh_from_db()
    assert again.status == Status.FAILED
    assert again.error_message == "suppressed: unsubscribed"
    assert mailoutbox == []


def test_click_seconds_after_sending_is_a_scanner_when_the_window_is_on(settings, web, sent_recipient, link):
    settings.TRACKING_SCANNER_WINDOW_SECONDS = 10
    from datetime import timedelta

    from django.utils import timezone

    CampaignRecipient.objects.filter(pk=sent_recipient.pk).update(sent_at=timezone.now() - timedelta(seconds=2))
    assert web.get(f"/t/c/{sent_recipient.token}/{link.pk}").status_code == 302
    sent_recipient.refresh_from_db()
    assert (sent_recipient.clicked_at, sent_recipient.click_count, sent_recipient.machine_click_count) == (None, 0, 1)
    assert EmailTracking.objects.get().is_machine is True


def test_a_person_clicking_the_moment_the_message_lands_is_counted(web, sent_recipient, link):
    from django.utils import timezone

    CampaignRecipient.objects.filter(pk=sent_recipient.pk).update(sent_at=timezone.now())
    assert web.get(f"/t/c/{sent_recipient.token}/{link.pk}").status_code == 302
    sent_recipient.refresh_from_db()
    assert (sent_recipient.click_count, sent_recipient.machine_click_count) == (1, 0)
    assert sent_recipient.clicked_at is not None


def test_bot_click_is_a_machine_click_and_still_redirects(sent_recipient, link):
    response = Client(HTTP_USER_AGENT="Mozilla/5.0 (compatible; Barracuda Sentinel)").get(
        f"/t/c/{sent_recipient.token}/{link.pk}"
    )
    assert response.status_code == 302
    sent_recipient.refresh_from_db()
    assert (sent_recipient.clicked_at, sent_recipient.opened_at, sent_recipient.machine_click_count) == (None, None, 1)


def test_pixel_on_a_recipient_not_yet_sent_records_the_event_only(web):
    pending = CampaignRecipientFactory()
    assert_pixel(web.get(f"/t/o/{pending.token}.gif"))
    pending.refresh_from_db()
    assert (pending.opened_at, pending.open_count, pending.machine_open_count) == (None, 0, 0)
    assert EmailTracking.objects.filter(campaign_recipient=pending).count() == 1


def test_repeat_pixel_hits_count_every_open_once_unique(web, sent_recipient):
    for _ in range(3):
        web.get(f"/t/o/{sent_recipient.token}.gif")
    first = CampaignRecipient.objects.get().opened_at
    web.get(f"/t/o/{sent_recipient.token}.gif")
    r = CampaignRecipient.objects.get()
    assert (r.open_count, r.opened_at) == (4, first)
