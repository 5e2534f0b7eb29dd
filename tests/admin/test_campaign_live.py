"""The campaign page's live numbers, scheduling by date, the dashboard and the comparison."""

import json
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory, EmailTemplateFactory, EmailTrackingFactory

pytestmark = pytest.mark.django_db

Status = Campaign.Status
R = CampaignRecipient.Status


def texts(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def campaign_form(campaign, **overrides):
    data = {
        "name": campaign.name,
        "description": "",
        "template": campaign.template_id,
        "subject": "",
        "from_name": "",
        "from_email": "",
        "reply_to": "",
        "track_opens": "on",
        "track_clicks": "on",
        "scheduled_at_0": "",
        "scheduled_at_1": "",
        "send_rate_per_hour": "",
        "steps-TOTAL_FORMS": "0",  # the follow-up steps inline
        "steps-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return data


# --- live numbers ---------------------------------------------------------------------


def test_live_json_counts_recipients_by_outcome_and_progress(marketer_client):
    campaign = CampaignFactory(status=Status.RUNNING)
    now = timezone.now()
    for status in (R.SENT, R.SENT, R.FAILED, R.PENDING):
        CampaignRecipientFactory(campaign=campaign, status=status, sent_at=now if status == R.SENT else None)
    CampaignRecipient.objects.filter(campaign=campaign, status=R.SENT).update(opened_at=now)

    data = marketer_client.get(reverse("admin:campaigns_campaign_live", args=[campaign.pk])).json()

    assert data["status"] == "running"
    assert (data["recipients"], data["pending"], data["emails_sent"], data["emails_failed"]) == (4, 1, 2, 1)
    assert data["emails_opened"] == 2
    assert data["progress_percentage"] == 75.0
    assert data["open_rate"] == 100.0


def test_live_json_queries_are_pinned(marketer_client, django_assert_num_queries):
    campaign = CampaignFactory(status=Status.RUNNING)
    for _ in range(20):
        CampaignRecipientFactory(campaign=campaign)
    url = reverse("admin:campaigns_campaign_live", args=[campaign.pk])
    marketer_client.get(url)

    # session, user, the user's permissions and its group's (one each), the campaign, its counters
    with django_assert_num_queries(6):
        response = marketer_client.get(url)
    assert response.json()["recipients"] == 20


def test_live_json_of_an_unknown_or_odd_id_is_404(marketer_client):
    for key in ("999999", "abc", "%00"):
        assert marketer_client.get(f"/admin/campaigns/campaign/{key}/live.json").status_code in (404, 302)


def test_the_campaign_page_carries_the_progress_bar_and_live_url(marketer_client):
    campaign = CampaignFactory(status=Status.RUNNING)
    CampaignRecipientFactory(campaign=campaign, status=R.SENT, sent_at=timezone.now())
    CampaignRecipientFactory(campaign=campaign)

    page = marketer_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()

    assert 'id="ft-progress-bar" max="100" value="50.0"' in page
    assert reverse("admin:campaigns_campaign_live", args=[campaign.pk]) in page
    assert "campaigns/live.js" in page
    assert 'http-equiv="refresh"' not in page


# --- scheduling by date ---------------------------------------------------------------


def test_saving_a_draft_with_a_date_schedules_it_in_the_marketers_time_zone(marketer_client):
    campaign = CampaignFactory(template=EmailTemplateFactory())
    CampaignRecipientFactory(campaign=campaign)
    marketer_client.cookies["ft_tz"] = "Europe/Paris"
    when = (timezone.now() + timedelta(days=2)).astimezone(ZoneInfo("Europe/Paris")).replace(second=0, microsecond=0)

    response = marketer_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        campaign_form(campaign, scheduled_at_0=f"{when:%Y-%m-%d}", scheduled_at_1=f"{when:%H:%M:%S}"),
    )

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Status.SCHEDULED
    assert campaign.scheduled_at == when  # typed as Paris time, stored as that instant
    assert any("is scheduled for" in t and f"{when:%H:%M}" in t for t in texts(response))


def test_saving_a_dated_draft_without_recipients_says_why_it_is_not_scheduled(marketer_client):
    campaign = CampaignFactory(template=EmailTemplateFactory())
    when = timezone.now() + timedelta(days=1)

    response = marketer_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        campaign_form(campaign, scheduled_at_0=f"{when:%Y-%m-%d}", scheduled_at_1=f"{when:%H:%M:%S}"),
    )

    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT
    assert campaign.scheduled_at is not None
    assert any("not scheduled yet" in t and "no pending recipients" in t for t in texts(response))


def test_a_draft_without_a_date_stays_a_draft(marketer_client):
    campaign = CampaignFactory()
    CampaignRecipientFactory(campaign=campaign)

    marketer_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]), campaign_form(campaign, name="New")
    )

    campaign.refresh_from_db()
    assert (campaign.status, campaign.name) == (Status.DRAFT, "New")


def test_an_unknown_time_zone_cookie_means_utc(marketer_client):
    campaign = CampaignFactory()
    marketer_client.cookies["ft_tz"] = "Mars/Olympus"

    page = marketer_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()

    assert "In your time zone (UTC)" in page


# --- dashboard and comparison ---------------------------------------------------------


def test_the_dashboard_carries_every_analytics_section(marketer_client):
    campaign = CampaignFactory(status=Status.COMPLETED)
    now = timezone.now()
    r = CampaignRecipientFactory(campaign=campaign, status=R.SENT, sent_at=now, email_address="a@gmail.com")
    EmailTrackingFactory(campaign_recipient=r, event_type="open", user_agent="Mozilla/5.0 (iPhone)")

    response = marketer_client.get(reverse("admin:campaigns_campaign_dashboard", args=[campaign.pk]))

    assert response.status_code == 200
    page = response.content.decode()
    assert "campaigns/vendor/chart.umd.min.js" in page and "//cdn" not in page
    analytics = json.loads(page.split('<script id="ft-analytics" type="application/json">')[1].split("</script>")[0])
    for key in (
        "hourly_sends",
        "hourly_opens",
        "hourly_clicks",
        "opens_by_device",
        "opens_by_email_client",
        "opens_by_location",
        "domains",
        "top_links",
        "bounce_reasons",
        "engagement",
    ):
        assert key in analytics, key
    assert analytics["domains"][0]["domain"] == "gmail.com"
    for section in ("hourly", "devices", "clients", "countries", "domains", "links", "bounces", "engagement"):
        assert f'data-section="{section}"' in page


def test_the_comparison_shows_chosen_campaigns_rates_side_by_side(marketer_client, django_assert_max_num_queries):
    now = timezone.now()
    first, second = CampaignFactory(name="First"), CampaignFactory(name="Second")
    for campaign, opened in ((first, 2), (second, 1)):
        for i in range(2):
            CampaignRecipientFactory(
                campaign=campaign, status=R.SENT, sent_at=now, opened_at=now if i < opened else None
            )

    response = marketer_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "compare_selected", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    with django_assert_max_num_queries(8):
        page = marketer_client.get(response["Location"])

    chart = json.loads(
        page.content.decode().split('<script id="ft-compare" type="application/json">')[1].split("</script>")[0]
    )
    assert chart["labels"] == ["First", "Second"]
    assert chart["values"]["open_rate"] == [100.0, 50.0]


def test_the_comparison_ignores_odd_ids(marketer_client):
    response = marketer_client.get(reverse("admin:campaigns_campaign_compare") + "?ids=abc,%00,-1,99999999999999999999")

    assert response.status_code == 200
    assert response.context["rows"] == []
