"""A delivery row per subscribed endpoint is written with the event it reports, in the same
transaction, whichever path recorded the event — the tracking paths driven over HTTP here."""

import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign, CampaignRecipient
from tests.factories import CampaignLinkFactory, CampaignRecipientFactory, EmailTemplateFactory
from tests.tracking.conftest import HUMAN_UA
from tests.tracking.test_fastpath import call
from tracking.models import EmailTracking
from webhooks.models import WebhookDelivery

from .conftest import endpoint_for

pytestmark = pytest.mark.django_db
URL = "http://127.0.0.1:9/hook"


@pytest.fixture
def web():
    return Client(HTTP_USER_AGENT=HUMAN_UA)


def deliveries(**filters):
    return list(WebhookDelivery.objects.filter(**filters).order_by("id"))


def test_a_human_open_queues_one_delivery_per_subscribed_endpoint(web, sent_recipient):
    crm = endpoint_for(URL, events=["message.opened", "message.clicked"])
    other = endpoint_for(URL + "/2", events=["message.opened"])
    endpoint_for(URL + "/3", events=["message.clicked"])  # not subscribed to opens
    endpoint_for(URL + "/4", events=["message.opened"], active=False)

    assert web.get(f"/t/o/{sent_recipient.token}.gif").status_code == 200

    rows = deliveries()
    assert [d.endpoint_id for d in rows] == [crm.pk, other.pk]
    assert {d.type for d in rows} == {"message.opened"} and {d.status for d in rows} == {"pending"}
    assert rows[0].event_id == rows[1].event_id and rows[0].event_id.startswith("evt_")
    assert rows[0].recipient_id == sent_recipient.pk and rows[0].campaign_id == sent_recipient.campaign_id
    assert rows[0].next_attempt_at is not None


def test_each_event_gets_its_own_event_id(web, sent_recipient):
    endpoint_for(URL)
    web.get(f"/t/o/{sent_recipient.token}.gif")
    web.get(f"/t/o/{sent_recipient.token}.gif")
    assert len({d.event_id for d in deliveries()}) == 2


def test_a_click_carries_its_url(web, sent_recipient):
    link = CampaignLinkFactory(campaign=sent_recipient.campaign, url="https://fliptech.example/offer?x=1")
    endpoint_for(URL, events=["message.clicked"])
    assert web.get(f"/t/c/{sent_recipient.token}/{link.pk}").status_code == 302
    (row,) = deliveries()
    assert row.type == "message.clicked" and row.url == "https://fliptech.example/offer?x=1"


def test_machine_opens_queue_nothing(web, sent_recipient):
    endpoint_for(URL, events=["message.opened", "message.clicked"])
    assert web.head(f"/t/o/{sent_recipient.token}.gif").status_code == 200  # a machine's HEAD
    assert EmailTracking.objects.filter(is_machine=True).count() == 1
    assert deliveries() == []


def test_unsubscribe_over_http_queues_message_unsubscribed(sent_recipient):
    endpoint_for(URL, events=["message.unsubscribed"])
    response = Client().post(
        f"/u/{sent_recipient.token}/",
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert [d.type for d in deliveries()] == ["message.unsubscribed"]


def test_an_event_rolled_back_leaves_no_delivery(sent_recipient):
    endpoint_for(URL)
    with pytest.raises(RuntimeError), transaction.atomic():
        EmailTracking.objects.create(
            campaign_recipient=sent_recipient, campaign=sent_recipient.campaign, event_type="open"
        )
        assert len(deliveries()) == 1  # written by the event's own statement
        raise RuntimeError("the transaction fails")
    assert deliveries() == []


def test_the_sent_mark_queues_message_sent():
    endpoint_for(URL, events=["message.sent"])
    recipient = CampaignRecipientFactory(status=CampaignRecipient.Status.QUEUED)
    CampaignRecipient.objects.filter(pk=recipient.pk).update(status="sent")
    CampaignRecipient.objects.filter(pk=recipient.pk).update(status="sent")  # no change: nothing more
    CampaignRecipient.objects.filter(pk=recipient.pk).update(status="bounced")
    assert [(d.type, d.recipient_id) for d in deliveries()] == [("message.sent", recipient.pk)]


def test_launch_queues_campaign_status_changed(user):
    endpoint_for(URL, events=["campaign.status_changed"])
    recipient = CampaignRecipientFactory(campaign__template=EmailTemplateFactory())
    services.campaign_launch(campaign=recipient.campaign, send_immediately=True)
    assert Campaign.objects.get(pk=recipient.campaign_id).status == "running"
    (row,) = deliveries()
    assert row.type == "campaign.status_changed" and row.recipient_id is None
    assert row.extra == {"status": "running", "previous_status": "draft"}


@pytest.mark.django_db(transaction=True)
def test_the_pixel_costs_no_extra_statement_with_three_endpoints(django_assert_num_queries):
    def first_open_queries():
        recipient = CampaignRecipientFactory(status="sent", sent_at=timezone.now())
        with CaptureQueriesContext(connection) as queries:
            assert call(f"/t/o/{recipient.token}.gif")["status"] == "200 OK"
        return len(queries)

    without = first_open_queries()
    for i in range(3):
        endpoint_for(f"{URL}/{i}")
    # The same statements (PostgreSQL: the one hit statement): the trigger writes the three
    # deliveries inside the event's INSERT.
    assert first_open_queries() == without == (1 if connection.vendor == "postgresql" else 6)
    assert WebhookDelivery.objects.count() == 3
