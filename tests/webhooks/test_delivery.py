"""The worker's drain against a real HTTP receiver on loopback: body, signature, retries
with backoff, the 24-hour limit, timeouts, and the SSRF check at delivery time."""

import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.utils import timezone

from tests.factories import CampaignLinkFactory
from tests.tracking.test_fastpath import call
from webhooks import delivery
from webhooks.models import WebhookDelivery

from .conftest import SECRET, endpoint_for

pytestmark = pytest.mark.django_db(transaction=True)


def open_pixel(recipient):
    assert call(f"/t/o/{recipient.token}.gif")["status"] == "200 OK"


def test_an_open_is_posted_signed_with_the_contract_payload(receiver, webhook_settings, sent_recipient):
    endpoint_for(receiver.url, events=["message.opened", "message.clicked"])
    link = CampaignLinkFactory(campaign=sent_recipient.campaign, url="https://fliptech.example/a")
    open_pixel(sent_recipient)
    assert call(f"/t/c/{sent_recipient.token}/{link.pk}")["status"].startswith("302")

    assert delivery.drain(budget_seconds=2) == {"delivered": 2, "failed": 0, "retrying": 0}

    # Sent concurrently: in any order.
    by_type = {json.loads(body)["type"]: (headers, body) for headers, body in receiver.requests}
    (headers, body), (_, click_body) = by_type["message.opened"], by_type["message.clicked"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-FlipTech-Signature"] == expected
    assert headers["Content-Type"] == "application/json"
    payload = json.loads(body)
    row = WebhookDelivery.objects.get(type="message.opened")
    assert payload == {
        "id": row.event_id,
        "type": "message.opened",
        "created_at": payload["created_at"],
        "data": {
            "campaign_id": sent_recipient.campaign.campaign_id,
            "id": sent_recipient.campaign_id,
            "recipient_id": sent_recipient.pk,
            "email_address": sent_recipient.email_address,
            "step": 0,
        },
    }
    assert payload["created_at"].endswith("Z")
    assert json.loads(click_body)["data"]["url"] == "https://fliptech.example/a"
    assert row.status == "delivered" and row.attempts == 1 and row.response_code == 200
    assert row.delivered_at is not None and row.next_attempt_at is None


def test_a_failing_receiver_is_retried_with_backoff_until_it_recovers(receiver, webhook_settings, sent_recipient):
    endpoint_for(receiver.url)
    receiver.fail_next(2, status=503)
    open_pixel(sent_recipient)

    totals = delivery.drain(budget_seconds=5)  # waits out the 0.2 s and 0.4 s backoffs itself

    assert totals["delivered"] == 1 and receiver.answered == [503, 503, 200]
    row = WebhookDelivery.objects.get()
    assert row.status == "delivered" and row.attempts == 3 and row.response_code == 200
    # Every attempt carried the same event id and body.
    assert len({json.loads(body)["id"] for _, body in receiver.requests}) == 1


def test_a_failure_is_recorded_and_retried_later(receiver, webhook_settings, sent_recipient):
    webhook_settings.WEBHOOKS_RETRY_BASE_SECONDS = 30
    endpoint_for(receiver.url)
    receiver.fail_next(1, status=500)
    open_pixel(sent_recipient)
    before = timezone.now()

    assert delivery.drain(budget_seconds=1) == {"delivered": 0, "failed": 0, "retrying": 1}

    row = WebhookDelivery.objects.get()
    assert row.status == "pending" and row.attempts == 1 and row.response_code == 500
    assert "HTTP 500" in row.last_error
    # The first retry comes within 60 s (base 30 s, jittered down by up to a quarter).
    assert before + timedelta(seconds=22) <= row.next_attempt_at <= before + timedelta(seconds=31)


def test_after_24_hours_of_failures_the_delivery_is_failed(receiver, webhook_settings, sent_recipient):
    endpoint_for(receiver.url)
    receiver.fail_all = True
    open_pixel(sent_recipient)
    WebhookDelivery.objects.update(created_at=timezone.now() - timedelta(hours=24))

    delivery.drain(budget_seconds=1)

    row = WebhookDelivery.objects.get()
    assert row.status == "failed" and row.next_attempt_at is None and row.attempts == 1


def test_a_receiver_that_hangs_times_out_and_is_retried(receiver, webhook_settings, sent_recipient):
    webhook_settings.WEBHOOKS_TIMEOUT_SECONDS = 0.3
    endpoint_for(receiver.url)
    receiver.hang_seconds = 1
    receiver.fail_next(1, status=0)  # hang once
    open_pixel(sent_recipient)

    totals = delivery.drain(budget_seconds=3)

    assert totals["delivered"] == 1
    row = WebhookDelivery.objects.get()
    assert row.attempts == 2 and row.status == "delivered"


def test_a_private_address_is_refused_at_delivery_time(receiver, webhook_settings, sent_recipient):
    endpoint_for(receiver.url)  # saved while private addresses were allowed
    open_pixel(sent_recipient)
    webhook_settings.WEBHOOKS_ALLOW_PRIVATE = False
    webhook_settings.WEBHOOKS_RETRY_BASE_SECONDS = 60

    delivery.drain(budget_seconds=1)

    assert receiver.count == 0
    row = WebhookDelivery.objects.get()
    assert row.status == "pending" and row.attempts == 1 and row.response_code is None
    assert "private" in row.last_error


def test_an_inactive_endpoints_deliveries_wait(receiver, webhook_settings, sent_recipient):
    endpoint = endpoint_for(receiver.url)
    open_pixel(sent_recipient)
    endpoint.active = False
    endpoint.save()
    assert delivery.drain(budget_seconds=0.5)["delivered"] == 0 and receiver.count == 0
    endpoint.active = True
    endpoint.save()
    assert delivery.drain(budget_seconds=1)["delivered"] == 1 and receiver.count == 1


def test_a_claimed_delivery_is_not_taken_twice(receiver, webhook_settings, sent_recipient):
    endpoint_for(receiver.url)
    open_pixel(sent_recipient)
    first = delivery.claim(10)
    assert len(first) == 1 and delivery.claim(10) == []  # leased: the next worker finds none
    WebhookDelivery.objects.update(next_attempt_at=timezone.now())  # the lease ran out (a dead worker)
    assert len(delivery.claim(10)) == 1
