"""Refusals at send time against the real SMTP sink answering per address: a hard bounce is
suppressed for every later campaign, a policy refusal is not, soft bounces add up to
SOFT_BOUNCE_LIMIT, and a campaign pauses itself as soon as its bounce rate crosses the line."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import bounces, sending
from campaigns.models import Campaign, CampaignRecipient, Lead, SoftBounce, Suppression
from campaigns.selectors import campaign_metrics
from tests.factories import CampaignFactory, EmailTemplateFactory
from tracking.models import EmailTracking

pytestmark = pytest.mark.django_db
R = CampaignRecipient.Status


def campaign_to(addresses, **fields):
    """A running campaign with one recipient per address, in order."""
    campaign = CampaignFactory(
        template=EmailTemplateFactory(),
        status=Campaign.Status.RUNNING,
        started_at=timezone.now(),
        from_email="news@fliptech.example",
        **fields,
    )
    for address in addresses:
        lead = Lead.objects.filter(email=address).first() or Lead.objects.create(email=address)
        CampaignRecipient.objects.create(campaign=campaign, lead=lead, email_address=address)
    return campaign


def statuses(campaign):
    return Counter(CampaignRecipient.objects.filter(campaign=campaign).values_list("status", flat=True))


def recipient(campaign, address):
    return CampaignRecipient.objects.get(campaign=campaign, email_address=address)


@pytest.mark.parametrize(
    "answer, kind",
    [
        ("550 5.1.1 No such user here", "hard"),
        ("550 5.1.2 Host unknown", "hard"),
        ("550 5.1.10 Null MX", "hard"),
        ("452 4.2.2 Mailbox full", "soft"),
        ("552 5.2.2 Over quota", "soft"),
        ("554 5.7.1 Message refused by policy", "policy"),
        ("451 4.7.1 Greylisted, try again", "policy"),
        ("550 Requested action not taken", "other"),  # no enhanced code: nothing said about the address
        ("451 4.3.0 Local error", "other"),
        ("421 4.4.2 Timeout, 5.1.1 in text later", "other"),
    ],
)
def test_the_enhanced_status_code_decides_the_kind(answer, kind):
    assert bounces.kind_of(answer.split(" ", 1)[1]) == kind


def test_no_such_user_at_send_bounces_and_no_later_campaign_tries_it(smtp_settings, smtp_server):
    smtp_server.reject("gone@example.net")
    first = campaign_to(["a@example.net", "gone@example.net", "b@example.net"])
    result = sending.send_batch(first.pk)
    assert (result.sent, result.bounced, result.failed) == (2, 1, 0)

    gone = recipient(first, "gone@example.net")
    assert gone.status == R.BOUNCED and gone.error_message == "550 5.1.1 No such user here"
    assert gone.bounced_at is not None and gone.sent_at is not None
    event = EmailTracking.objects.get(campaign_recipient=gone)
    assert event.event_type == "bounce"
    assert event.event_data == {
        "bounce_type": "hard",
        "source": "smtp",
        "reason": "550 5.1.1 No such user here",
        "step": 0,
    }
    suppression = Suppression.objects.get(email="gone@example.net")
    assert (suppression.reason, suppression.source) == ("hard_bounce", first.campaign_id)
    metrics = campaign_metrics(campaign_ids=[first.pk])[first.pk]
    assert (metrics["emails_sent"], metrics["emails_bounced"], metrics["emails_delivered"]) == (3, 1, 2)
    first.refresh_from_db()
    assert first.status == Campaign.Status.COMPLETED

    later = campaign_to(["gone@example.net", "c@example.net"])
    assert sending.send_batch(later.pk).sent == 1
    assert recipient(later, "gone@example.net").error_message == "suppressed: hard_bounce"
    assert smtp_server.refused == 1  # the server was never asked again
    assert sorted(smtp_server.addresses()) == ["a@example.net", "b@example.net", "c@example.net"]


def test_policy_refusal_fails_the_recipient_and_keeps_the_address(smtp_settings, smtp_server):
    smtp_server.reject("blocked@example.net", smtp_server.POLICY)
    campaign = campaign_to(["blocked@example.net", "a@example.net"])
    result = sending.send_batch(campaign.pk)
    assert (result.sent, result.failed, result.bounced) == (1, 1, 0)
    blocked = recipient(campaign, "blocked@example.net")
    assert (blocked.status, blocked.error_message) == (R.FAILED, "554 5.7.1 Message refused by policy")
    assert not Suppression.objects.exists()
    assert not EmailTracking.objects.exists()


def test_soft_bounces_count_once_per_message_and_suppress_at_the_limit(smtp_settings, smtp_server):
    smtp_settings.SOFT_BOUNCE_LIMIT = 3
    smtp_settings.SEND_MAX_ATTEMPTS = 2
    smtp_settings.SEND_RETRY_BACKOFF_SECONDS = 0
    smtp_server.reject("full@example.net", smtp_server.MAILBOX_FULL)

    first = campaign_to(["full@example.net"])
    for _attempt in range(2):  # retried: two events, one soft bounce of this message
        with pytest.raises(sending.TransientFailure, match=r"452 4\.2\.2"):
            sending.send_batch(first.pk)
    full = recipient(first, "full@example.net")
    assert full.status == R.FAILED and full.error_message.startswith("gave up after 2 attempts: 452 4.2.2")
    events = EmailTracking.objects.filter(campaign_recipient=full)
    assert [(e.event_data["bounce_type"], e.event_data["source"]) for e in events] == [("soft", "smtp")] * 2
    assert SoftBounce.objects.filter(email="full@example.net").count() == 1

    smtp_settings.SEND_MAX_ATTEMPTS = 1
    for n in (2, 3):
        with pytest.raises(sending.TransientFailure):
            sending.send_batch(campaign_to(["full@example.net"]).pk)
        assert SoftBounce.objects.filter(email="full@example.net").count() == n
        assert Suppression.objects.exists() == (n == 3)
    assert Suppression.objects.get().reason == "soft_bounce_limit"

    fourth = campaign_to(["full@example.net"])
    sending.send_batch(fourth.pk)
    assert recipient(fourth, "full@example.net").error_message == "suppressed: soft_bounce_limit"
    assert smtp_server.refused == 4


def test_soft_bounces_older_than_30_days_do_not_count(smtp_settings):
    smtp_settings.SOFT_BOUNCE_LIMIT = 2
    bounces.soft_bounced(email="x@example.net", recipient_id=1)
    SoftBounce.objects.update(created_at=timezone.now() - timedelta(days=31))
    assert bounces.soft_bounced(email="x@example.net", recipient_id=2) is False
    assert bounces.soft_bounced(email="x@example.net", recipient_id=3) is True
    assert Suppression.objects.get().reason == "soft_bounce_limit"


def test_bounce_rate_pauses_the_campaign_within_the_batch(smtp_settings, smtp_server):
    """10 delivered, then every address bounces: 3 / 13 = 23 % > 20 % pauses at the 13th
    message, in the middle of the batch, and the rest stays pending."""
    addresses = [f"ok{i}@example.net" for i in range(10)] + [f"gone{i}@example.net" for i in range(20)]
    for address in addresses[10:]:
        smtp_server.reject(address)
    campaign = campaign_to(addresses, auto_pause_min_sample=10, auto_pause_bounce_rate=20)
    result = sending.send_batch(campaign.pk)
    assert result.stopped and (result.sent, result.bounced) == (10, 3)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.pause_reason) == (Campaign.Status.PAUSED, "bounce_rate")
    assert campaign.paused_at is not None
    assert statuses(campaign) == {R.SENT: 10, R.BOUNCED: 3, R.PENDING: 17}
    assert smtp_server.count == 10


def test_rates_over_the_line_pause_once_the_minimum_sample_is_reached(smtp_settings, smtp_server):
    """4 bounces among the first messages, then deliveries: checked when the 10th is sent
    (4 / 10 = 40 %), not before; on PostgreSQL the "sent" of a message is recorded with the
    start of the next one, so the check may come one message later."""
    addresses = [f"gone{i}@example.net" for i in range(4)] + [f"ok{i}@example.net" for i in range(20)]
    for address in addresses[:4]:
        smtp_server.reject(address)
    campaign = campaign_to(addresses, auto_pause_min_sample=10, auto_pause_bounce_rate=20)
    result = sending.send_batch(campaign.pk)
    assert result.bounced == 4 and result.sent in (6, 7)
    campaign.refresh_from_db()
    assert (campaign.status, campaign.pause_reason) == (Campaign.Status.PAUSED, "bounce_rate")
    assert statuses(campaign) == {R.SENT: result.sent, R.BOUNCED: 4, R.PENDING: 20 - result.sent}


def test_auto_pause_off_with_zero_sends_everyone(smtp_settings, smtp_server):
    addresses = [f"gone{i}@example.net" for i in range(3)] + ["ok@example.net"]
    for address in addresses[:3]:
        smtp_server.reject(address)
    campaign = campaign_to(addresses, auto_pause_min_sample=0, auto_pause_bounce_rate=0)
    sending.send_batch(campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED and campaign.pause_reason == ""


def test_the_settings_apply_when_the_campaign_sets_nothing(smtp_settings, smtp_server):
    smtp_settings.AUTO_PAUSE_MIN_SAMPLE = 2
    smtp_settings.AUTO_PAUSE_BOUNCE_RATE = 40.0
    smtp_server.reject("gone@example.net")
    campaign = campaign_to(["ok@example.net", "gone@example.net", "ok2@example.net"])
    sending.send_batch(campaign.pk)  # 1 / 2 = 50 % > 40 %
    campaign.refresh_from_db()
    assert (campaign.status, campaign.pause_reason) == (Campaign.Status.PAUSED, "bounce_rate")
    assert statuses(campaign) == {R.SENT: 1, R.BOUNCED: 1, R.PENDING: 1}
