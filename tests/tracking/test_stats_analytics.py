"""Endpoints 14 (stats) and 15 (analytics): every field filled from data, bounded queries."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignLinkFactory, CampaignRecipientFactory, LeadFactory
from tests.tracking.conftest import HUMAN_UA
from tracking import selectors
from tracking.models import EmailTracking
from tracking.selectors import campaign_analytics, campaign_stats, describe_user_agent
from tracking.services import event_record

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
OUTLOOK = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.12026; Pro)"


@pytest.fixture
def campaign(db):
    """10 recipients: 6 sent (2 at gmail.test), 1 failed, 2 pending, 1 queued; opens, clicks, a bounce."""
    now = timezone.now()
    campaign = CampaignFactory(status=Campaign.Status.RUNNING, started_at=now - timedelta(minutes=30))
    link = CampaignLinkFactory(campaign=campaign, url="https://fliptech.example/offer")

    def recipient(email, **kw):
        return CampaignRecipientFactory(campaign=campaign, lead=LeadFactory(email=email), email_address=email, **kw)

    sent = [
        recipient(
            f"p{i}@{'gmail.test' if i < 2 else 'corp.test'}",
            status=Status.SENT,
            sent_at=now - timedelta(minutes=30 - i),
        )
        for i in range(6)
    ]
    recipient("f@corp.test", status=Status.FAILED, error_message="550 mailbox unavailable")
    recipient("q@corp.test", status=Status.QUEUED)
    recipient("a@corp.test")
    recipient("b@corp.test")
    for r in sent:
        r.refresh_from_db()
    event_record(recipient=sent[0], event_type="open", user_agent=HUMAN_UA)
    event_record(recipient=sent[0], event_type="open", user_agent=IPHONE)
    event_record(recipient=sent[1], event_type="open", user_agent=OUTLOOK)
    event_record(recipient=sent[2], event_type="open", user_agent="Mozilla/5.0")  # Apple MPP prefetch
    event_record(recipient=sent[0], event_type="click", user_agent=HUMAN_UA, link=link)
    event_record(recipient=sent[3], event_type="click", user_agent=HUMAN_UA, link=link)  # click counts as open
    event_record(recipient=sent[3], event_type="click", user_agent=HUMAN_UA, link=link)
    event_record(
        recipient=sent[4], event_type="bounce", event_data={"bounce_type": "hard", "reason": "550 no such user"}
    )
    event_record(recipient=sent[5], event_type="reply")
    return campaign


def test_stats_fields_from_data(api, campaign):
    response = api.get(f"/api/v1/campaigns/{campaign.campaign_id}/stats")
    assert response.status_code == 200
    s = response.json()
    assert s["campaign_id"] == campaign.campaign_id and s["campaign_name"] == campaign.name
    assert (s["total_recipients"], s["pending"], s["queued"], s["sent"], s["failed"]) == (10, 2, 1, 6, 1)
    assert (s["bounced"], s["opened"], s["clicked"], s["replied"]) == (1, 3, 2, 1)
    assert (s["unsubscribed"], s["complained"]) == (0, 0)
    assert (s["total_opens"], s["total_clicks"]) == (4, 3)
    assert s["metrics"]["machine_opens"] == 1
    assert s["metrics"]["open_rate"] == 60.0  # 3 / (6 sent − 1 bounced)
    assert s["progress_percentage"] == 70.0  # 6 sent + 1 failed of 10
    assert s["emails_per_hour"] > 0
    assert s["estimated_completion"] is not None
    assert s["average_send_time_seconds"] == pytest.approx(60, abs=1)
    assert s["last_event_at"] is not None
    assert s["started_at"] is not None


def test_stats_by_numeric_id_and_trailing_slash(api, campaign):
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/stats/").status_code == 200


def test_stats_of_unknown_or_deleted_campaign_is_404(api, campaign):
    assert api.get("/api/v1/campaigns/camp_000000000000/stats").status_code == 404
    campaign.deleted_at = timezone.now()
    campaign.save()
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/stats").status_code == 404
    assert api.get(f"/api/v1/campaigns/{campaign.pk}/analytics").status_code == 404


def test_stats_need_credentials(anon_client, campaign):
    assert anon_client.get(f"/api/v1/campaigns/{campaign.pk}/stats").status_code == 401


def test_stats_of_empty_draft(api, db):
    s = api.get(f"/api/v1/campaigns/{CampaignFactory().pk}/stats").json()
    assert (s["total_recipients"], s["progress_percentage"], s["emails_per_hour"], s["estimated_completion"]) == (
        0,
        0.0,
        0.0,
        None,
    )


def test_stats_queries_are_bounded(campaign, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):  # counters row, send window, newest event, follow-up steps
        campaign_stats(campaign=campaign)


def test_analytics_every_section_filled(api, campaign):
    response = api.get(f"/api/v1/campaigns/{campaign.pk}/analytics")
    assert response.status_code == 200, response.content
    a = response.json()
    assert a["campaign"]["campaign_id"] == campaign.campaign_id
    assert a["stats"]["opened"] == 3
    assert sum(h["count"] for h in a["hourly_sends"]) == 6
    assert sum(h["count"] for h in a["hourly_opens"]) == 3  # the machine open is left out
    assert sum(h["count"] for h in a["hourly_clicks"]) == 3
    assert a["opens_by_location"] == [{"country": "Unknown", "count": 3}]
    assert a["clicks_by_location"] == [{"country": "Unknown", "count": 3}]
    devices = {d["label"]: d["count"] for d in a["opens_by_device"]}
    assert devices == {"desktop": 2, "mobile": 1}
    clients = {c["label"]: c["count"] for c in a["opens_by_email_client"]}
    assert clients["Outlook"] == 1 and clients["Apple Mail"] == 1
    assert a["top_openers"][0]["count"] == 2 and a["top_openers"][0]["email_address"] == "p0@gmail.test"
    assert a["top_clickers"][0] == {
        "recipient_id": a["top_clickers"][0]["recipient_id"],
        "email_address": "p3@corp.test",
        "count": 2,
    }
    assert a["bounce_reasons"] == [{"reason": "550 no such user", "count": 1}]
    assert a["error_messages"] == [{"reason": "550 mailbox unavailable", "count": 1}]
    assert a["top_links"] == [{"url": "https://fliptech.example/offer", "clicks": 3, "unique_clicks": 2}]
    domains = {d["domain"]: d for d in a["domains"]}
    assert domains["gmail.test"] == {"domain": "gmail.test", "sent": 2, "bounced": 0, "opened": 2, "clicked": 1}
    assert domains["corp.test"]["sent"] == 4 and domains["corp.test"]["bounced"] == 1
    assert a["engagement"]["median_seconds_to_open"] > 0
    assert a["engagement"]["median_seconds_to_click"] > 0


def test_analytics_queries_are_bounded(campaign, django_assert_max_num_queries):
    # 3 stats + hourly sends + top openers + top clickers + bounce reasons + error
    # messages + links + domains + hourly opens/clicks and user agents (1 query on
    # PostgreSQL, 2 on SQLite) + medians (1 on PostgreSQL, 2 on SQLite) + opens and clicks
    # by address (for their countries, 1 each); on PostgreSQL also the SET LOCALs and,
    # inside the test's transaction, a savepoint and its release.
    # + whether it has follow-up steps.
    with django_assert_max_num_queries(18):
        campaign_analytics(campaign=campaign)


def _open_at(recipient, at):
    event = event_record(recipient=recipient, event_type="open", user_agent=HUMAN_UA)
    EmailTracking.objects.filter(pk=event.pk).update(created_at=at)


def test_hourly_counts_start_at_the_utc_hour(db):
    campaign = CampaignFactory()
    recipient = CampaignRecipientFactory(
        campaign=campaign, status=Status.SENT, sent_at=datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    )
    for at in ("10:00:00", "10:59:59.999999", "11:00:00"):
        _open_at(recipient, datetime.fromisoformat(f"2026-11-25T{at}+00:00"))
    a = campaign_analytics(campaign=campaign)
    assert a["hourly_opens"] == [
        {"hour": datetime(2026, 11, 25, 10, tzinfo=UTC), "count": 2},
        {"hour": datetime(2026, 11, 25, 11, tzinfo=UTC), "count": 1},
    ]
    assert a["hourly_sends"] == [{"hour": datetime(2026, 11, 25, 9, tzinfo=UTC), "count": 1}]


def test_domains_are_grouped_lower_cased(db):
    campaign = CampaignFactory()
    for email in ("a@Gmail.Test", "b@gmail.test", "c@GMAIL.TEST", "d@corp.test"):
        CampaignRecipientFactory(campaign=campaign, email_address=email, status=Status.SENT, sent_at=timezone.now())
    assert campaign_analytics(campaign=campaign)["domains"] == [
        {"domain": "gmail.test", "sent": 3, "bounced": 0, "opened": 0, "clicked": 0},
        {"domain": "corp.test", "sent": 1, "bounced": 0, "opened": 0, "clicked": 0},
    ]


def test_top_links_most_clicked_first_then_by_url(db):
    campaign = CampaignFactory()
    b, a = (
        CampaignLinkFactory(campaign=campaign, url="https://b.example/"),
        CampaignLinkFactory(campaign=campaign, url="https://a.example/"),
    )
    first, second = (
        CampaignRecipientFactory(campaign=campaign, status=Status.SENT, sent_at=timezone.now()) for _ in range(2)
    )
    for recipient, link in ((first, b), (first, b), (second, a), (first, a)):
        event_record(recipient=recipient, event_type="click", user_agent=HUMAN_UA, link=link)
    event_record(recipient=second, event_type="click", user_agent=HUMAN_UA)  # no URL: not a link
    assert campaign_analytics(campaign=campaign)["top_links"] == [
        {"url": "https://a.example/", "clicks": 2, "unique_clicks": 2},
        {"url": "https://b.example/", "clicks": 2, "unique_clicks": 1},
    ]


@pytest.mark.django_db(transaction=True)
def test_analytics_on_two_connections_equal_those_on_one(require_postgres, campaign):
    with mock.patch.object(selectors, "_on_own_connection", wraps=selectors._on_own_connection) as second:
        concurrent = campaign_analytics(campaign=campaign)
    assert second.call_count == 1
    with transaction.atomic():  # a second connection would not see this transaction: not used
        with mock.patch.object(selectors, "_on_own_connection") as unused:
            in_order = campaign_analytics(campaign=campaign)
        assert unused.call_count == 0
    for a in (concurrent, in_order):  # the pace depends on the time of the call
        del a["stats"]["emails_per_hour"], a["stats"]["estimated_completion"]
    assert concurrent == in_order
    assert sum(h["count"] for h in concurrent["hourly_opens"]) == 3


def test_median_is_the_middle_value(db):
    now = timezone.now()
    campaign = CampaignFactory()
    for minutes in (1, 2, 10):
        CampaignRecipientFactory(
            campaign=campaign,
            status=Status.SENT,
            sent_at=now - timedelta(hours=1),
            opened_at=now - timedelta(hours=1) + timedelta(minutes=minutes),
        )
    CampaignRecipientFactory(campaign=campaign, status=Status.SENT, sent_at=now)
    engagement = campaign_analytics(campaign=campaign)["engagement"]
    assert engagement["median_seconds_to_open"] == pytest.approx(120, abs=0.01)
    assert engagement["median_seconds_to_click"] is None


def test_even_count_median_averages_the_middle_pair(db):
    now = timezone.now()
    campaign = CampaignFactory()
    for minutes in (1, 2, 4, 10):
        CampaignRecipientFactory(
            campaign=campaign,
            status=Status.SENT,
            sent_at=now - timedelta(hours=1),
            opened_at=now - timedelta(hours=1) + timedelta(minutes=minutes),
        )
    assert campaign_analytics(campaign=campaign)["engagement"]["median_seconds_to_open"] == pytest.approx(180, abs=0.01)


@pytest.mark.parametrize(
    ("ua", "device", "client"),
    [
        (IPHONE, "mobile", "Apple Mail"),
        (OUTLOOK, "desktop", "Outlook"),
        ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "other", "Gmail"),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
            "tablet",
            "Apple Mail",
        ),
        ("", "other", "Unknown"),
    ],
)
def test_describe_user_agent(ua, device, client):
    assert describe_user_agent(ua) == (device, client)


def test_stats_are_live_after_every_change(api, campaign):
    before = api.get(f"/api/v1/campaigns/{campaign.pk}/stats").json()
    CampaignRecipientFactory(campaign=campaign)
    assert (
        api.get(f"/api/v1/campaigns/{campaign.pk}/stats").json()["total_recipients"] == before["total_recipients"] + 1
    )


def test_cached_analytics_are_never_stale(api, campaign, settings):
    settings.TRACKING_ANALYTICS_CACHE_SECONDS = 300
    url = f"/api/v1/campaigns/{campaign.pk}/analytics"
    first = api.get(url).json()
    assert api.get(url).json() == first  # unchanged campaign: the cached answer
    recipient = CampaignRecipientFactory(campaign=campaign, status="sent", sent_at=timezone.now())
    event_record(recipient=recipient, event_type="open", user_agent=IPHONE)
    after = api.get(url).json()
    assert after["stats"]["opened"] == first["stats"]["opened"] + 1
