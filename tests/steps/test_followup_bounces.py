"""A follow-up refused at send time does what a first message's refusal does (contract
"Deliverability"), against the real SMTP sink answering per address: a hard bounce bounces
the recipient, records the event and suppresses the address; a policy refusal fails it and
keeps the address; soft bounces count towards SOFT_BOUNCE_LIMIT, once per message; and the
provider's id of every follow-up is stored, so a webhook naming only it finds the recipient."""

from datetime import timedelta

import pytest
from anymail.signals import AnymailTrackingEvent

from campaigns import sending
from campaigns.models import Campaign, CampaignRecipient, RecipientMessage, SoftBounce, Suppression
from campaigns.selectors import campaign_metrics
from tests.steps.helpers import campaign_with_steps, status_of
from tracking.models import EmailTracking
from tracking.receivers import find_recipient
from tracking.step_stats import step_stats

pytestmark = pytest.mark.django_db
M = RecipientMessage.Status
R = CampaignRecipient.Status
Seq = CampaignRecipient.Sequence
NOW = timedelta(0)
GONE = "s0@example.net"


def send_until_idle(campaign, rounds=10):
    for _ in range(rounds):
        if not sending.send_batch(campaign.pk).claimed:
            return
    raise AssertionError(f"still sending after {rounds} batches")


def test_a_follow_ups_hard_bounce_bounces_the_recipient_and_suppresses_the_address(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[(NOW, "always", ""), (NOW, "always", "")])
    sending.send_batch(campaign.pk)  # the first messages, both accepted
    smtp_server.reject(GONE)  # the mailbox is gone by the follow-up
    send_until_idle(campaign)

    gone = CampaignRecipient.objects.get(email_address=GONE)
    step = RecipientMessage.objects.get(recipient=gone)  # no step 2 was scheduled
    assert (step.position, step.status, step.error_message) == (1, M.BOUNCED, "550 5.1.1 No such user here")
    assert step.sent_at is not None
    assert (gone.status, gone.sequence_status, gone.stop_reason) == (R.BOUNCED, Seq.STOPPED, "bounced")
    assert gone.bounced_at is not None and gone.bounced_at >= step.sent_at
    event = EmailTracking.objects.get(campaign_recipient=gone)
    assert event.event_type == "bounce"
    assert event.event_data == {
        "bounce_type": "hard",
        "source": "smtp",
        "reason": "550 5.1.1 No such user here",
        "step": 1,
    }
    suppression = Suppression.objects.get(email=GONE)
    assert (suppression.reason, suppression.source) == ("hard_bounce", campaign.campaign_id)

    assert smtp_server.addresses().count(GONE) == 1 and smtp_server.addresses().count("s1@example.net") == 3
    assert status_of(campaign) == Campaign.Status.COMPLETED
    metrics = campaign_metrics(campaign_ids=[campaign.pk])[campaign.pk]
    assert (metrics["emails_sent"], metrics["emails_bounced"]) == (2, 1)
    stats = {s["position"]: (s["sent"], s["bounced"]) for s in step_stats(campaign=campaign, metrics=metrics)}
    assert stats == {0: (2, 0), 1: (2, 1), 2: (1, 0)}  # the bounce is step 1's

    assert smtp_server.refused == 1  # step 2 never went to the server


def test_a_policy_refusal_of_a_follow_up_fails_it_and_keeps_the_address(smtp_settings, smtp_server):
    campaign = campaign_with_steps(1, steps=[(NOW, "always", ""), (NOW, "always", "")])
    sending.send_batch(campaign.pk)
    smtp_server.reject(GONE, smtp_server.POLICY)
    send_until_idle(campaign)

    recipient = CampaignRecipient.objects.get()
    step = RecipientMessage.objects.get()
    assert (step.status, step.error_message) == (M.FAILED, "554 5.7.1 Message refused by policy")
    assert (recipient.status, recipient.sequence_status, recipient.bounced_at) == (R.SENT, Seq.STOPPED, None)
    assert not Suppression.objects.exists() and not EmailTracking.objects.exists()
    assert status_of(campaign) == Campaign.Status.COMPLETED


def test_soft_bounces_of_a_first_message_and_its_follow_up_count_once_each(smtp_settings, smtp_server):
    smtp_settings.SOFT_BOUNCE_LIMIT = 2
    smtp_settings.SEND_RETRY_BACKOFF_SECONDS = 0
    campaign = campaign_with_steps(1, steps=[(NOW, "always", "")])
    smtp_server.reject(GONE, smtp_server.MAILBOX_FULL)
    for _attempt in range(2):  # the first message, refused twice: one soft bounce of it
        with pytest.raises(sending.TransientFailure, match=r"452 4\.2\.2"):
            sending.send_batch(campaign.pk)
    assert list(SoftBounce.objects.values_list("step", flat=True)) == [0]
    del smtp_server.rejected[GONE]
    sending.send_batch(campaign.pk)  # then accepted
    smtp_server.reject(GONE, smtp_server.MAILBOX_FULL)
    with pytest.raises(sending.TransientFailure):
        sending.send_batch(campaign.pk)  # the follow-up: a second soft bounce, of step 1

    assert sorted(SoftBounce.objects.values_list("step", flat=True)) == [0, 1]
    assert Suppression.objects.get(email=GONE).reason == "soft_bounce_limit"
    events = EmailTracking.objects.filter(event_type="bounce").order_by("pk")
    assert [(e.event_data["bounce_type"], e.event_data["step"]) for e in events] == [("soft", 0)] * 2 + [("soft", 1)]

    send_until_idle(campaign)  # its retry is refused at the start: the address is suppressed now
    step = RecipientMessage.objects.get()
    assert (step.status, step.error_message) == (M.FAILED, "suppressed: soft_bounce_limit")
    recipient = CampaignRecipient.objects.get()
    assert (recipient.sequence_status, recipient.stop_reason) == (Seq.STOPPED, "suppressed")
    assert smtp_server.addresses() == [GONE]


def test_the_provider_id_of_a_follow_up_is_stored_and_finds_its_recipient(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[(NOW, "always", "")])
    smtp_server.accept_reply = "250 2.0.0 Ok: queued as FIRST0001"
    sending.send_batch(campaign.pk)
    smtp_server.accept_reply = "250 2.0.0 Ok: queued as STEP10001"
    send_until_idle(campaign)

    assert set(RecipientMessage.objects.values_list("provider_message_id", flat=True)) == {"STEP10001"}
    assert set(CampaignRecipient.objects.values_list("provider_message_id", flat=True)) == {"FIRST0001"}
    step = RecipientMessage.objects.select_related("recipient").first()
    event = AnymailTrackingEvent(
        event_type="bounced", message_id="STEP10001", recipient=step.recipient.email_address, esp_event={}
    )
    assert find_recipient(event) == step.recipient
