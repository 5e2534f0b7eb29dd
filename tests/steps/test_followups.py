"""Follow-up steps through the engine in this process, against the real SMTP sink: threaded,
once each, after their delay, stopped by a reply, held by pause, recovered after a death."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns import sending, services, tasks
from campaigns.models import Campaign, CampaignRecipient, Lead, RecipientMessage
from campaigns.sending import followups
from tests.factories import SuppressionFactory
from tests.steps.helpers import campaign_with_steps, status_of
from tracking import services as tracking

pytestmark = pytest.mark.django_db
M = RecipientMessage.Status
Seq = CampaignRecipient.Sequence
NOW = timedelta(0)


def send_until_idle(campaign, rounds=10):
    for _ in range(rounds):
        result = sending.send_batch(campaign.pk)
        if not result.claimed:
            return result
    raise AssertionError(f"still sending after {rounds} batches")


def by_address(smtp_server):
    out = {}
    for (rcpt, _), msg in zip(smtp_server.messages, smtp_server.parsed(), strict=True):
        out.setdefault(rcpt, []).append(msg)
    return out


def test_two_follow_ups_go_out_once_each_threaded_with_re_subject(smtp_settings, smtp_server):
    campaign = campaign_with_steps(
        3, steps=[(NOW, "no_reply", ""), (NOW, "always", "Last chance, {{ lead.first_name }}")]
    )
    send_until_idle(campaign)

    assert status_of(campaign) == Campaign.Status.COMPLETED
    mails = by_address(smtp_server)
    assert sorted(mails) == ["s0@example.net", "s1@example.net", "s2@example.net"]
    for address, (first, second, third) in mails.items():
        recipient = CampaignRecipient.objects.get(campaign=campaign, email_address=address)
        steps = {m.position: m for m in RecipientMessage.objects.filter(recipient=recipient)}
        assert first["Message-ID"] == recipient.message_id
        assert second["Message-ID"] == steps[1].message_id != first["Message-ID"]
        assert third["Message-ID"] == steps[2].message_id
        assert second["Subject"] == f"Re: Offer for {recipient.first_name}"
        assert third["Subject"] == f"Last chance, {recipient.first_name}"
        assert second["In-Reply-To"] == first["Message-ID"] and second["References"] == first["Message-ID"]
        assert third["In-Reply-To"] == second["Message-ID"]
        assert third["References"] == f"{first['Message-ID']} {second['Message-ID']}"
        for msg in (second, third):
            assert msg["From"] == first["From"]
            assert msg["List-Unsubscribe"] == f"<https://mail.example.com/u/{recipient.token}/>"
            html = msg.get_body(("html",)).get_content()
            assert f"https://mail.example.com/t/o/{recipient.token}.gif" in html
            assert f"https://mail.example.com/t/c/{recipient.token}/" in html
            assert f"Just checking in, {recipient.first_name}." in html
        assert [steps[1].status, steps[2].status] == [M.SENT, M.SENT]
        assert steps[1].sent_at and steps[2].sent_at and steps[1].subject == second["Subject"]
        assert (recipient.current_step, recipient.sequence_status, recipient.next_step_at) == (2, Seq.FINISHED, None)
    assert len({m["Message-ID"] for msgs in mails.values() for m in msgs}) == 9


def test_a_follow_up_waits_for_its_delay_and_the_campaign_for_its_sequences(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[(timedelta(days=3), "no_reply", "")])
    send_until_idle(campaign)

    assert smtp_server.count == 2
    assert status_of(campaign) == Campaign.Status.RUNNING  # sequences still active
    recipient = CampaignRecipient.objects.filter(campaign=campaign).first()
    step = RecipientMessage.objects.get(recipient=recipient)
    assert step.status == M.PENDING and step.due_at == recipient.sent_at + timedelta(days=3)
    assert recipient.next_step_at == step.due_at and recipient.current_step == 0

    RecipientMessage.objects.filter(campaign_id=campaign.pk).update(due_at=timezone.now())
    send_until_idle(campaign)
    assert smtp_server.count == 4
    assert status_of(campaign) == Campaign.Status.COMPLETED


def test_a_lead_sent_a_campaign_message_becomes_contacted(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[])
    Lead.objects.filter(email="s1@example.net").update(status=Lead.Status.QUALIFIED)
    send_until_idle(campaign)
    assert dict(Lead.objects.values_list("email", "status")) == {
        "s0@example.net": Lead.Status.CONTACTED,
        "s1@example.net": Lead.Status.QUALIFIED,
    }
    # Without steps the sequence is the first message: finished once it went out.
    assert set(CampaignRecipient.objects.values_list("sequence_status", "current_step")) == {(Seq.FINISHED, 0)}


def test_a_reply_stops_the_sequence_and_cancels_the_pending_follow_up(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[(timedelta(hours=1), "no_reply", ""), (NOW, "always", "")])
    send_until_idle(campaign)
    replier = CampaignRecipient.objects.get(campaign=campaign, email_address="s0@example.net")
    tracking.event_record(recipient=replier, event_type="reply", event_data={"text": "yes please"})

    replier.refresh_from_db()
    assert (replier.sequence_status, replier.stop_reason) == (Seq.STOPPED, "replied")
    assert RecipientMessage.objects.get(recipient=replier).status == M.CANCELLED
    RecipientMessage.objects.filter(campaign_id=campaign.pk, status=M.PENDING).update(due_at=timezone.now())
    send_until_idle(campaign)
    assert Counter(smtp_server.addresses()) == {"s0@example.net": 1, "s1@example.net": 3}
    assert status_of(campaign) == Campaign.Status.COMPLETED


def test_the_start_statement_refuses_a_claimed_follow_up_once_its_recipient_replied(smtp_settings, smtp_server):
    campaign = campaign_with_steps(1, steps=[(NOW, "no_reply", "")])
    sending.send_batch(campaign.pk)
    [claimed] = followups.claim_batch(campaign=campaign, size=10)
    recipient = claimed.recipient
    tracking.event_record(recipient=recipient, event_type="reply", event_data={"text": "stop"})

    assert followups.start(claimed.pk, campaign.pk) is False
    assert followups.why_not(claimed, campaign.pk) == "gone"
    claimed.refresh_from_db()
    assert claimed.status == M.CANCELLED and claimed.handed_at is None


@pytest.mark.parametrize(
    ("condition", "touch", "sent"),
    [
        ("no_open", {"opened_at": True}, False),
        ("no_open", {"machine_open_count": 3}, True),  # a machine open does not make an opener
        ("no_click", {"clicked_at": True}, False),
        ("always", {"opened_at": True, "clicked_at": True}, True),
    ],
)
def test_a_step_condition_is_checked_when_it_falls_due_people_only(smtp_settings, smtp_server, condition, touch, sent):
    campaign = campaign_with_steps(1, steps=[(NOW, condition, ""), (NOW, "always", "")])
    sending.send_batch(campaign.pk)
    values = {k: (timezone.now() if v is True else v) for k, v in touch.items()}
    CampaignRecipient.objects.filter(campaign=campaign).update(**values)
    send_until_idle(campaign)

    recipient = CampaignRecipient.objects.get(campaign=campaign)
    if sent:
        assert smtp_server.count == 3 and recipient.sequence_status == Seq.FINISHED and recipient.stop_reason == ""
    else:
        assert smtp_server.count == 1
        assert (recipient.sequence_status, recipient.stop_reason) == (Seq.FINISHED, "condition")
        assert RecipientMessage.objects.get(recipient=recipient, position=1).status == M.SKIPPED
    assert status_of(campaign) == Campaign.Status.COMPLETED


def test_pause_holds_due_follow_ups_and_resume_sends_them(
    smtp_settings, smtp_server, django_capture_on_commit_callbacks
):
    campaign = campaign_with_steps(3, steps=[(NOW, "no_reply", "")])
    sending.send_batch(campaign.pk)
    services.campaign_pause(campaign=campaign)
    result = sending.send_batch(campaign.pk)
    assert result.stopped and smtp_server.count == 3
    assert set(RecipientMessage.objects.values_list("status", flat=True)) == {M.PENDING}

    with django_capture_on_commit_callbacks(execute=False):
        services.campaign_resume(campaign=campaign)
    send_until_idle(campaign)
    assert Counter(smtp_server.addresses()) == {f"s{i}@example.net": 2 for i in range(3)}
    assert status_of(campaign) == Campaign.Status.COMPLETED


def test_a_sender_that_died_before_handing_over_a_follow_up_is_replaced_and_sends_it_once(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[(NOW, "no_reply", "")])
    sending.send_batch(campaign.pk)
    died = followups.claim_batch(campaign=campaign, size=10)  # claimed, then the sender died
    assert len(died) == 2
    assert sending.send_batch(campaign.pk).claimed == 0  # leased: nobody else takes them
    RecipientMessage.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    tasks.release_expired_leases.run()
    send_until_idle(campaign)
    assert Counter(smtp_server.addresses()) == {"s0@example.net": 2, "s1@example.net": 2}
    assert [m.message_id for m in died] == list(
        RecipientMessage.objects.order_by("due_at", "pk").values_list("message_id", flat=True)
    )


def test_a_follow_up_in_flight_when_its_sender_died_is_never_sent_again(smtp_settings, smtp_server):
    campaign = campaign_with_steps(1, steps=[(NOW, "no_reply", ""), (NOW, "always", "")])
    sending.send_batch(campaign.pk)
    [claimed] = followups.claim_batch(campaign=campaign, size=10)
    assert followups.start(claimed.pk, campaign.pk)  # handed over, then the sender died
    RecipientMessage.objects.update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    tasks.release_expired_leases.run()
    send_until_idle(campaign)

    claimed.refresh_from_db()
    recipient = claimed.recipient
    recipient.refresh_from_db()
    assert claimed.status == M.FAILED and claimed.error_message.startswith("interrupted")
    assert recipient.sequence_status == Seq.STOPPED
    assert smtp_server.count == 1 and status_of(campaign) == Campaign.Status.COMPLETED


def test_a_first_message_sent_but_not_advanced_is_caught_up_by_the_janitor(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[(NOW, "no_reply", "")])
    sending.send_batch(campaign.pk)
    CampaignRecipient.objects.update(current_step=None)  # the sender died before the advance
    RecipientMessage.objects.all().delete()
    assert tasks.release_expired_leases.run()["caught_up"] == 2
    send_until_idle(campaign)
    assert Counter(smtp_server.addresses()) == {"s0@example.net": 2, "s1@example.net": 2}


def test_a_suppressed_address_gets_no_follow_up_and_its_sequence_stops(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[(NOW, "always", "")])
    sending.send_batch(campaign.pk)
    SuppressionFactory(email="s1@example.net")
    send_until_idle(campaign)
    recipient = CampaignRecipient.objects.get(email_address="s1@example.net")
    assert (recipient.sequence_status, recipient.stop_reason) == (Seq.STOPPED, "suppressed")
    assert RecipientMessage.objects.get(recipient=recipient).status == M.FAILED
    assert Counter(smtp_server.addresses()) == {"s0@example.net": 2, "s1@example.net": 1}
    assert status_of(campaign) == Campaign.Status.COMPLETED


def test_a_permanent_refusal_of_a_follow_up_ends_that_sequence(smtp_settings, smtp_server):
    """(A hard bounce also bounces the recipient: tests/steps/test_followup_bounces.py.)"""
    campaign = campaign_with_steps(1, steps=[(NOW, "always", ""), (NOW, "always", "")])
    sending.send_batch(campaign.pk)
    smtp_server.reject("s0@example.net", "550 Requested action not taken")
    send_until_idle(campaign)
    recipient = CampaignRecipient.objects.get()
    message = RecipientMessage.objects.get()
    assert message.status == M.FAILED and "550" in message.error_message
    assert recipient.sequence_status == Seq.STOPPED and recipient.status == CampaignRecipient.Status.SENT
    assert status_of(campaign) == Campaign.Status.COMPLETED


def test_due_follow_ups_are_found_with_one_indexed_query(smtp_settings, django_assert_num_queries):
    campaign = campaign_with_steps(3, steps=[(NOW, "no_reply", "")])
    sending.send_batch(campaign.pk)
    # Expect 7 queries: * savepoint  * the due rows (the message_claim index: the one query
    # that finds due steps)  * expired claims (message_leased index; the batch was not full)
    # * the claim UPDATE  * the steps' delays (for the batch's sent marks)  * the claimed
    # rows with recipients and leads  * release savepoint
    with django_assert_num_queries(7):
        claimed = followups.claim_batch(campaign=campaign, size=10)
    assert len(claimed) == 3


def test_a_bounce_webhook_for_a_follow_up_finds_its_recipient_and_stops_it(smtp_settings, smtp_server):
    from types import SimpleNamespace

    from tracking.receivers import find_recipient

    campaign = campaign_with_steps(1, steps=[(NOW, "always", ""), (timedelta(days=1), "always", "")])
    sending.send_batch(campaign.pk)
    sending.send_batch(campaign.pk)
    step = RecipientMessage.objects.get(position=1)
    event = SimpleNamespace(message_id=step.message_id.strip("<>"), esp_event={}, metadata={}, recipient="")
    recipient = find_recipient(event)
    assert recipient == step.recipient
    tracking.event_record(recipient=recipient, event_type="bounce", event_data={"bounce_type": "hard"})
    recipient.refresh_from_db()
    assert (recipient.sequence_status, recipient.stop_reason) == (Seq.STOPPED, "bounced")
    assert RecipientMessage.objects.get(position=2).status == M.CANCELLED
    assert status_of(campaign) == Campaign.Status.COMPLETED


@pytest.mark.django_db(transaction=True)
def test_a_reply_arriving_while_a_follow_up_is_being_sent_lets_at_most_that_one_out(smtp_settings, smtp_server):
    campaign = campaign_with_steps(2, steps=[(NOW, "always", ""), (NOW, "always", "")])
    sending.send_batch(campaign.pk)  # the two first messages
    follow_ups = Counter()

    def reply(address):
        recipient = CampaignRecipient.objects.get(campaign=campaign, email_address=address)
        tracking.event_record(recipient=recipient, event_type="reply", event_data={"text": "stop"})

    def on_rcpt(address):  # s0 replies while its first follow-up's envelope is open
        if address == "s0@example.net" and smtp_server.addresses().count(address) == 1:
            reply(address)

    def on_accept(address):  # s1 replies just as its first follow-up was accepted
        follow_ups[address] += 1
        if address == "s1@example.net" and follow_ups[address] == 1:
            reply(address)

    smtp_server.on_rcpt, smtp_server.on_accept = on_rcpt, on_accept
    send_until_idle(campaign)

    # s0: its reply was stored before the start statement: no follow-up left. s1: the one
    # follow-up already being sent went out, none after it.
    assert Counter(smtp_server.addresses()) == {"s0@example.net": 1, "s1@example.net": 2}
    assert set(CampaignRecipient.objects.values_list("sequence_status", "stop_reason")) == {("stopped", "replied")}
    assert status_of(campaign) == Campaign.Status.COMPLETED
