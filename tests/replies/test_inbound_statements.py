"""What one inbound reply costs the database: the webhook answers only after the reply is
stored, so every statement is paid inside the request; under load each round trip waits for
a CPU (bench/inbound.py). Pinned here, with the reasons."""

import json

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignFactory, CampaignRecipientFactory, LeadFactory
from tests.replies.conftest import FIRST_ID, auth
from tests.replies.test_inbound_webhooks import postmark_payload
from tracking.models import EmailTracking, Reply

pytestmark = pytest.mark.django_db


def post(payload):
    return Client().post(
        "/anymail/postmark/inbound/", data=json.dumps(payload), content_type="application/json", **auth()
    )


@pytest.fixture
def first_message_sent():
    campaign = CampaignFactory(status=Campaign.Status.RUNNING, started_at=timezone.now())
    return CampaignRecipientFactory(
        campaign=campaign,
        lead=LeadFactory(email="owner@shop.example"),
        status=CampaignRecipient.Status.SENT,
        sent_at=timezone.now(),
        message_id=FIRST_ID,
        current_step=0,
    )


def test_a_reply_to_a_first_message_costs_nine_statements(first_message_sent, django_assert_num_queries):
    # Expect 11 (in production too: BEGIN and COMMIT there, a savepoint and its release in
    # the test's transaction): * the recipient by Message-ID (with campaign and lead: In-Reply-To
    # named a first message, so the follow-ups are not asked) * savepoint, the reply
    # event, release (its provider id comes from the Message-ID and is unique: a copy seen
    # before stops here) * replied_at (the first reply) * the sequence stopped * its
    # pending follow-ups cancelled * the Reply row (unique Message-ID) * the lead's
    # last_replied_at * the transaction's begin and end. (Before: 21, each write in a
    # savepoint of its own.)
    with django_assert_num_queries(11):
        assert post(postmark_payload(in_reply_to=FIRST_ID)).status_code == 200
    assert Reply.objects.get().recipient_id == first_message_sent.pk
    assert EmailTracking.objects.get().event_type == "reply"


def test_the_same_reply_again_stops_at_its_event_and_stores_nothing(first_message_sent, django_assert_num_queries):
    assert post(postmark_payload(in_reply_to=FIRST_ID)).status_code == 200
    # Expect 8: * the recipient * savepoint, the event's insert refused by its unique
    # provider id, rollback to and release of its savepoint * the earlier event read back
    # * the transaction's begin and end
    with django_assert_num_queries(8):
        assert post(postmark_payload(in_reply_to=FIRST_ID)).status_code == 200
    assert Reply.objects.count() == 1 and EmailTracking.objects.count() == 1
