"""campaigns.states: completing and failing a campaign, and the rules the screens ask."""

import pytest

from campaigns import states
from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory

pytestmark = pytest.mark.django_db

R = CampaignRecipient.Status


def sending_campaign(*statuses):
    campaign = CampaignFactory(status=states.SENDING)
    for status in statuses:
        CampaignRecipientFactory(campaign=campaign, status=status, error_message="550 no such user")
    return campaign


def test_finish_if_done_completes_a_campaign_with_nothing_left_to_send():
    campaign = sending_campaign(R.SENT, R.FAILED)

    assert states.finish_if_done(campaign.pk) == states.COMPLETED
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.COMPLETED and campaign.completed_at is not None


def test_finish_if_done_fails_a_campaign_whose_every_message_failed():
    campaign = sending_campaign(R.FAILED, R.FAILED)

    assert states.finish_if_done(campaign.pk) == states.FAILED
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.FAILED
    assert "550 no such user" in campaign.failure_reason


@pytest.mark.parametrize("left", [R.PENDING, R.QUEUED])
def test_finish_if_done_leaves_a_campaign_with_work_left(left):
    campaign = sending_campaign(R.SENT, left)

    assert states.finish_if_done(campaign.pk) is None
    assert Campaign.objects.get(pk=campaign.pk).status == states.SENDING


def test_finish_if_done_leaves_a_paused_campaign_alone():
    campaign = CampaignFactory(status=Campaign.Status.PAUSED)
    CampaignRecipientFactory(campaign=campaign, status=R.SENT)

    assert states.finish_if_done(campaign.pk) is None
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PAUSED


def test_fail_records_the_reason_once_and_refuses_a_draft():
    campaign = CampaignFactory(status=states.SENDING)
    draft = CampaignFactory(status=Campaign.Status.DRAFT)

    assert states.fail(campaign, "x" * 3000) is True
    assert states.fail(campaign, "again") is False
    assert states.fail(draft, "nope") is False
    campaign.refresh_from_db()
    assert campaign.failure_reason == "x" * 2000
    assert Campaign.objects.get(pk=draft.pk).status == Campaign.Status.DRAFT


def test_only_completed_and_failed_are_final():
    assert states.FINAL == {Campaign.Status.COMPLETED, Campaign.Status.FAILED}


@pytest.mark.parametrize("status", Campaign.Status.values)
def test_the_admin_buttons_follow_the_transition_table(status):
    campaign = CampaignFactory.build(status=status, scheduled_at=None)

    shown = states.buttons(campaign, can_change=True)

    assert shown["launch"] == (status in states.TRANSITIONS["launch"][0])
    assert shown["resume"] == (status in states.TRANSITIONS["resume"][0])
    assert shown["pause"] == (status in states.TRANSITIONS["pause"][0] | states.TRANSITIONS["unschedule"][0])
    assert not any(states.buttons(campaign, can_change=False).values())
