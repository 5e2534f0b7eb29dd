"""tracking.services.event_record: counting, machine hits, status moves, suppression, replay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import CampaignRecipient, Suppression
from tests.factories import CampaignRecipientFactory, SuppressionFactory
from tests.tracking.conftest import HUMAN_UA
from tracking.models import EmailTracking
from tracking.services import event_record, resubscribe, suppress, unsubscribe

pytestmark = pytest.mark.django_db
Status = CampaignRecipient.Status


def reload(r):
    r.refresh_from_db()
    return r


def test_first_human_open_sets_opened_at_and_repeats_only_add_to_total(sent_recipient):
    event_record(recipient=sent_recipient, event_type="open", user_agent=HUMAN_UA)
    first_opened_at = reload(sent_recipient).opened_at
    event_record(recipient=sent_recipient, event_type="open", user_agent=HUMAN_UA)
    r = reload(sent_recipient)
    assert first_opened_at is not None
    assert r.opened_at == first_opened_at
    assert r.open_count == 2
    assert r.machine_open_count == 0
    assert EmailTracking.objects.filter(campaign_recipient=r, event_type="open").count() == 2


def test_open_event_row_carries_campaign_user_agent_and_ip(sent_recipient):
    event = event_record(recipient=sent_recipient, event_type="open", user_agent=HUMAN_UA, ip_address="203.0.113.9")
    assert event.campaign_id == sent_recipient.campaign_id
    assert event.user_agent == HUMAN_UA
    assert event.ip_address == "203.0.113.9"
    assert event.is_machine is False


def test_machine_open_only_increments_machine_counter(sent_recipient):
    event = event_record(recipient=sent_recipient, event_type="open", user_agent="Mozilla/5.0")
    r = reload(sent_recipient)
    assert event.is_machine is True
    assert (r.opened_at, r.open_count, r.machine_open_count) == (None, 0, 1)


def test_head_request_counts_as_machine(sent_recipient):
    event = event_record(recipient=sent_recipient, event_type="open", user_agent=HUMAN_UA, method="HEAD")
    assert event.is_machine is True
    assert reload(sent_recipient).opened_at is None


def test_click_without_open_counts_as_open_too(sent_recipient, link):
    event_record(recipient=sent_recipient, event_type="click", user_agent=HUMAN_UA, link=link)
    r = reload(sent_recipient)
    assert r.clicked_at is not None and r.opened_at is not None
    assert (r.click_count, r.open_count) == (1, 1)
    assert EmailTracking.objects.filter(campaign_recipient=r, event_type="open").count() == 0


def test_click_after_open_leaves_open_count_alone(sent_recipient, link):
    event_record(recipient=sent_recipient, event_type="open", user_agent=HUMAN_UA)
    event_record(recipient=sent_recipient, event_type="click", user_agent=HUMAN_UA, link=link)
    r = reload(sent_recipient)
    assert (r.open_count, r.click_count) == (1, 1)


def test_scanner_click_seconds_after_sending_is_machine_when_the_window_is_on(settings, sent_recipient, link):
    settings.TRACKING_SCANNER_WINDOW_SECONDS = 10
    sent_recipient.sent_at = timezone.now() - timedelta(seconds=2)
    sent_recipient.save()
    event = event_record(recipient=sent_recipient, event_type="click", user_agent=HUMAN_UA, link=link)
    r = reload(sent_recipient)
    assert event.is_machine is True
    assert (r.clicked_at, r.click_count, r.machine_click_count) == (None, 0, 1)


def test_hard_bounce_marks_recipient_bounced_and_suppresses_address(sent_recipient):
    event_record(
        recipient=sent_recipient, event_type="bounce", event_data={"bounce_type": "hard", "reason": "550 no such user"}
    )
    r = reload(sent_recipient)
    assert r.status == Status.BOUNCED and r.bounced_at is not None
    s = Suppression.objects.get(email=r.email_address.lower())
    assert s.reason == Suppression.Reason.HARD_BOUNCE


def test_soft_bounce_is_an_event_only(sent_recipient):
    event_record(recipient=sent_recipient, event_type="bounce", event_data={"bounce_type": "soft"})
    r = reload(sent_recipient)
    assert r.status == Status.SENT and r.bounced_at is None
    assert not Suppression.objects.exists()
    assert EmailTracking.objects.filter(event_type="bounce").count() == 1


def test_complaint_sets_complained_at_and_suppresses(sent_recipient):
    event_record(recipient=sent_recipient, event_type="complain")
    r = reload(sent_recipient)
    assert r.complained_at is not None and r.status == Status.SENT
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT


def test_unsubscribe_is_idempotent(sent_recipient):
    first = unsubscribe(recipient=sent_recipient)
    stamp = reload(sent_recipient).unsubscribed_at
    second = unsubscribe(recipient=reload(sent_recipient))
    r = reload(sent_recipient)
    assert first is not None and second is None
    assert r.status == Status.UNSUBSCRIBED and r.unsubscribed_at == stamp
    assert Suppression.objects.filter(email=r.email_address).count() == 1
    assert EmailTracking.objects.filter(event_type="unsubscribe").count() == 1


def test_resubscribe_removes_only_the_suppression_this_unsubscribe_created(sent_recipient):
    unsubscribe(recipient=sent_recipient)
    other = SuppressionFactory(email="someone-else@example.com", reason=Suppression.Reason.UNSUBSCRIBED)
    assert resubscribe(recipient=reload(sent_recipient)) is True
    r = reload(sent_recipient)
    assert r.status == Status.SENT and r.unsubscribed_at is None
    assert list(Suppression.objects.all()) == [other]


def test_resubscribe_keeps_a_hard_bounce_suppression(sent_recipient):
    event_record(recipient=sent_recipient, event_type="bounce", event_data={"bounce_type": "hard"})
    resubscribe(recipient=reload(sent_recipient))
    assert Suppression.objects.filter(reason=Suppression.Reason.HARD_BOUNCE).count() == 1


def test_reply_sets_replied_at_once(sent_recipient):
    event_record(recipient=sent_recipient, event_type="reply")
    stamp = reload(sent_recipient).replied_at
    event_record(recipient=sent_recipient, event_type="reply")
    assert stamp is not None and reload(sent_recipient).replied_at == stamp


def test_delivered_after_bounce_leaves_recipient_bounced(sent_recipient):
    event_record(recipient=sent_recipient, event_type="bounce", event_data={"bounce_type": "hard"})
    event_record(recipient=reload(sent_recipient), event_type="delivered")
    r = reload(sent_recipient)
    assert r.status == Status.BOUNCED and r.delivered_at is not None


def test_replayed_provider_event_changes_nothing(sent_recipient):
    first = event_record(recipient=sent_recipient, event_type="open", user_agent=HUMAN_UA, provider_event_id="mg:123")
    again = event_record(
        recipient=reload(sent_recipient), event_type="open", user_agent=HUMAN_UA, provider_event_id="mg:123"
    )
    r = reload(sent_recipient)
    assert again.pk == first.pk and again.replayed is True
    assert r.open_count == 1
    assert EmailTracking.objects.count() == 1


def test_event_on_recipient_not_yet_sent_records_the_row_but_no_state(db):
    pending = CampaignRecipientFactory()
    event_record(recipient=pending, event_type="open", user_agent=HUMAN_UA)
    event_record(recipient=pending, event_type="bounce", event_data={"bounce_type": "hard"})
    r = reload(pending)
    assert (r.status, r.opened_at, r.open_count, r.bounced_at) == (Status.PENDING, None, 0, None)
    assert EmailTracking.objects.filter(campaign_recipient=r).count() == 2
    assert Suppression.objects.filter(email=r.email_address).exists()


def test_unknown_event_type_is_refused(sent_recipient):
    with pytest.raises(ValueError):
        event_record(recipient=sent_recipient, event_type="teleport")


def test_suppress_lowercases_and_keeps_the_first_reason(db):
    suppress(email="  Someone@Example.COM ", reason=Suppression.Reason.UNSUBSCRIBED, source="camp_x")
    suppress(email="someone@example.com", reason=Suppression.Reason.HARD_BOUNCE, source="camp_y")
    s = Suppression.objects.get()
    assert (s.email, s.reason, s.source) == ("someone@example.com", "unsubscribed", "camp_x")


def test_repeat_open_costs_two_statements(sent_recipient, django_assert_max_num_queries):
    event_record(recipient=sent_recipient, event_type="open", user_agent=HUMAN_UA)
    r = reload(sent_recipient)
    # INSERT event, UPDATE open_count (opened_at already set: no compare-and-set); inside
    # the test's transaction the atomic block adds SAVEPOINT and RELEASE.
    with django_assert_max_num_queries(4):
        event_record(recipient=r, event_type="open", user_agent=HUMAN_UA)
